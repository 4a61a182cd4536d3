"""The Telegram adapter: a python-telegram-bot Application on the shared core."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from aiohttp import web
from telegram import Bot, BotCommand
from telegram.error import InvalidToken
from telegram.ext import Application, ApplicationBuilder, CommandHandler, MessageHandler, filters

from adapters.telegram.actions import ChatActions
from adapters.telegram.convert import PLATFORM
from adapters.telegram.delivery import UPLOAD_LIMIT, TelegramDelivery
from adapters.telegram.handlers import TelegramHandlers
from adapters.telegram.polling import InboxPoller, InboxProcessor
from adapters.telegram.request import AiohttpRequest, UpdatesRequest
from adapters.telegram.webhook import TelegramWebhook, derived_secret, webhook_path
from core.conversation import Conversations
from core.errors import ConfigurationError
from core.ports import Inbox

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COMMANDS = [
    BotCommand("start", "What this bot does"),
    BotCommand("help", "What I understand"),
    BotCommand("talk", "Talk to me: /talk <text>, or reply to a voice note"),
    BotCommand("reset", "Forget our conversation"),
    BotCommand("avatar", "Videos with my answers: /avatar on|off"),
    BotCommand("stats", "Today's usage (admins only)"),
]

# Connections to the Bot API for everything but getUpdates (PTB's default size).
REQUEST_POOL = 256


class TelegramAdapter:
    """Long-polls the Bot API and answers on the core; concurrent across chats."""

    platform = PLATFORM

    def __init__(
        self,
        conversations: Conversations,
        *,
        token: str,
        api_root: str,
        upload_limit: int = UPLOAD_LIMIT,
        inbox: Inbox,
        allowed_chats: list[int] | None = None,
        admins: list[str] | None = None,
        grace_seconds: float = 20.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        web_routes: list[tuple[str, str, Handler]] | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> None:
        # PTB hands out RetryAfter.retry_after as a timedelta with this set (and warns without).
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        root = api_root.rstrip("/")
        self._processor = InboxProcessor(inbox)
        # on_status: told the HTTP status of every Bot API answer (the wiring counts retries).
        updates = UpdatesRequest(on_status=on_status)
        self._requests = (AiohttpRequest(REQUEST_POOL, on_status=on_status), updates)
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .request(self._requests[0])
            .get_updates_request(updates)
            .concurrent_updates(self._processor)
            .updater(None)
            .build()
        )
        self._poller = InboxPoller(
            self.application.bot, inbox, self.application.update_queue, updates.payload
        )
        self._webhook: TelegramWebhook | None = None
        if webhook_url is not None:
            self._webhook = TelegramWebhook(
                self.application.bot,
                inbox,
                self.application.update_queue,
                url=webhook_url,
                secret=webhook_secret or derived_secret(token),
            )
            assert web_routes is not None, "webhook mode needs the web server's routes"
            web_routes.append(("POST", webhook_path(webhook_url), self._webhook.handle))
        self._polling: asyncio.Task[None] | None = None
        self._grace = grace_seconds
        self.actions = ChatActions(self.application.bot)
        self.delivery = TelegramDelivery(lambda: self.application.bot, self.actions, upload_limit)
        self._handlers = TelegramHandlers(
            conversations,
            self.application.bot,
            self.actions,
            set(admins or []),
            self.delivery.refusals,
        )
        self._register(allowed_chats or [])

    def _register(self, allowed_chats: list[int]) -> None:
        on = self._handlers
        app = self.application
        # TELEGRAM_ALLOWED_CHAT_IDS: other chats are told once per message in private, else ignored.
        allowed = filters.Chat(chat_id=allowed_chats) if allowed_chats else filters.ALL
        app.add_handler(MessageHandler(~allowed & filters.ChatType.PRIVATE, on.private_bot))
        for name, callback in (
            ("start", on.start),
            ("help", on.help),
            ("reset", on.reset),
            ("avatar", on.avatar),
            ("talk", on.talk),
            ("stats", on.stats),
        ):
            app.add_handler(CommandHandler(name, callback, filters=allowed))
        app.add_handler(MessageHandler(allowed & filters.COMMAND, on.unknown_command))
        app.add_handler(
            MessageHandler(allowed & filters.UpdateType.MESSAGE & ~filters.COMMAND, on.message)
        )
        app.add_error_handler(self._on_error)

    async def start(self) -> None:
        """Log in (getMe), publish the command menu, and start long polling."""
        try:
            await self.application.initialize()
        except BaseException as error:
            # The bot never finished initializing, so its shutdown would not close these.
            await asyncio.gather(*(request.shutdown() for request in self._requests))
            if isinstance(error, InvalidToken):
                # PTB's own message quotes the token: neither it nor its cause may reach a log.
                raise ConfigurationError("Telegram refused TELEGRAM_BOT_TOKEN (getMe)") from None
            raise  # unreachable or timed out: bot/startup.py names TELEGRAM_API_BASE_URL
        await self.application.bot.set_my_commands(COMMANDS)
        await self.application.start()
        replayed = await self._poller.replay()
        if replayed:
            log.info("answering %d Telegram message(s) left from the last run", replayed)
        if self._webhook is not None:
            await self._webhook.register()
            log.info("Telegram bot @%s takes updates at its webhook", self.application.bot.username)
            return
        self._polling = asyncio.create_task(self._poller.run(), name="telegram-polling")
        log.info("Telegram bot @%s is polling", self.application.bot.username)

    async def stop(self) -> None:
        """Stop polling, give handlers in flight the grace period, close the connection pool.

        Updates not answered by then stay in the inbox and are answered on the next start.
        """
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
        if cut := await self._processor.in_flight.drain(self._grace):
            log.warning(
                "stopped %d Telegram answer(s) in flight; they resume on the next start", cut
            )
        if self.application.running:
            await self.application.stop()
        await self.actions.aclose()
        await self.application.shutdown()

    async def take_over(self) -> int:
        """Queue the updates a stopped replica left unanswered (webhook replicas share them)."""
        return await self._poller.replay()

    @staticmethod
    async def check(token: str, api_root: str) -> str:
        """Log in with the token (getMe) and name the bot, for `avatarbot check`."""
        root = api_root.rstrip("/")
        async with Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot") as bot:
            return f"logged in as @{bot.username}"

    async def _on_error(self, update: object, context: object) -> None:
        error = getattr(context, "error", None)
        log.error("Telegram update failed: %r", error, exc_info=error)
