"""The Telegram adapter: a python-telegram-bot Application on the shared core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from telegram import Bot, BotCommand
from telegram.error import InvalidToken
from telegram.ext import Application, ApplicationBuilder

from adapters.telegram.actions import ChatActions
from adapters.telegram.convert import PLATFORM
from adapters.telegram.delivery import UPLOAD_LIMIT, TelegramDelivery
from adapters.telegram.handlers import TelegramHandlers
from adapters.telegram.platform import TelegramPlatform
from adapters.telegram.polling import InboxPoller
from adapters.telegram.request import AiohttpRequest, UpdatesRequest
from adapters.telegram.stream import AnswerStream, DraftSupport
from adapters.telegram.webhook import TelegramWebhook, derived_secret, webhook_path
from core.commands import ChatCommands, offered
from core.errors import ConfigurationError
from core.i18n import DEFAULT_LOCALE, Catalogs, shipped_catalogs
from core.ports import Inbox
from core.proxy import Proxy
from core.turns import TurnRunner

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The menu BotFather shows (setMyCommands): the one list of commands, in every language.
MENU = offered(PLATFORM)

# Connections to the Bot API for everything but getUpdates (PTB's default size).
REQUEST_POOL = 256


class TelegramAdapter:
    """Long-polls the Bot API (or takes its webhook) and answers on the turn runner."""

    platform = PLATFORM

    def __init__(
        self,
        *,
        runner: TurnRunner,
        commands: ChatCommands,
        token: str,
        api_root: str,
        upload_limit: int = UPLOAD_LIMIT,
        inbox: Inbox,
        allowed_chats: list[int] | None = None,
        admins: list[str] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        on_status: Callable[[int], None] | None = None,
        catalogs: Catalogs | None = None,
        photos: bool = False,
        proxy: Proxy | None = None,
    ) -> None:
        root = api_root.rstrip("/")
        self._catalogs = catalogs = catalogs or shipped_catalogs()
        # on_status: told the HTTP status of every Bot API answer (the wiring counts retries).
        # proxy: every Bot API call and file download goes through it (core/proxy.py).
        updates = UpdatesRequest(on_status=on_status, proxy=proxy)
        self._requests = (AiohttpRequest(REQUEST_POOL, on_status=on_status, proxy=proxy), updates)
        # PTB's Application is the Bot and the dispatcher of commands; updates come from the
        # poller or the webhook below, through the turn runner.
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .request(self._requests[0])
            .get_updates_request(updates)
            .updater(None)
            .build()
        )
        bot = self.application.bot
        self.actions = ChatActions(bot)
        self.delivery = TelegramDelivery(bot, self.actions, upload_limit, catalogs)
        handlers = TelegramHandlers(
            commands, bot, set(admins or []), allowed_chats, catalogs=catalogs
        )
        self.application.add_handlers(handlers.handlers)
        self.application.add_error_handler(self._on_error)
        view = partial(AnswerStream, bot, self.actions, self.delivery.refusals, DraftSupport())
        self.turns = TelegramPlatform(self.application, runner, handlers, view, photos=photos)
        self._poller = InboxPoller(bot, inbox, self.turns, updates.payload)
        self._webhook: TelegramWebhook | None = None
        self.routes: tuple[tuple[str, str, Handler], ...] = ()
        if webhook_url is not None:
            self._webhook = TelegramWebhook(
                bot, self.turns, url=webhook_url, secret=webhook_secret or derived_secret(token)
            )
            # Served by the web adapter, which is built with every platform's routes.
            self.routes = (("POST", webhook_path(webhook_url), self._webhook.handle),)
        self._polling: asyncio.Task[None] | None = None
        self._runner = runner

    async def start(self) -> None:
        """Log in (getMe), publish the command menu, answer what was left, and start polling."""
        try:
            await self.application.initialize()
        except BaseException as error:
            # The bot never finished initializing, so its shutdown would not close these.
            await asyncio.gather(*(request.shutdown() for request in self._requests))
            if isinstance(error, InvalidToken):
                # PTB's own message quotes the token: neither it nor its cause may reach a log.
                raise ConfigurationError("Telegram refused TELEGRAM_BOT_TOKEN (getMe)") from None
            raise  # unreachable or timed out: bot/startup.py names TELEGRAM_API_BASE_URL
        try:
            await publish_commands(self.application.bot, self._catalogs)
            replayed = await self._runner.replay(self.turns)  # what a stop or a crash left
            if self._webhook is not None:
                await self._webhook.register()
        except BaseException:
            await self.stop()
            raise
        if replayed:
            log.info("answering %d Telegram message(s) left from the last run", replayed)
        if self._webhook is not None:
            log.info("Telegram bot @%s takes updates at its webhook", self.application.bot.username)
            return
        self._polling = asyncio.create_task(self._poller.run(), name="telegram-polling")
        log.info("Telegram bot @%s is polling", self.application.bot.username)

    async def stop(self) -> None:
        """Stop polling and close the connections (the turn runner has drained by now).

        Updates not answered by then stay in the inbox and are answered on the next start.
        """
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
        await self.actions.aclose()
        await self.application.shutdown()

    async def take_over(self) -> int:
        """Answer the updates a stopped replica left unanswered (webhook replicas share them)."""
        return await self._runner.replay(self.turns)

    @staticmethod
    async def check(token: str, api_root: str, proxy: Proxy | None = None) -> str:
        """Log in with the token (getMe) and name the bot, for `avatarbot check`."""
        root = api_root.rstrip("/")
        async with Bot(
            token,
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            # The connections `run` makes (PTB's default HTTPXRequest reads the environment).
            request=AiohttpRequest(1, proxy=proxy),
            get_updates_request=AiohttpRequest(1, proxy=proxy),
        ) as bot:
            return f"logged in as @{bot.username}"

    async def _on_error(self, update: object, context: object) -> None:
        error = getattr(context, "error", None)
        log.error("Telegram update failed: %r", error, exc_info=error)


async def publish_commands(bot: Bot, catalogs: Catalogs) -> None:
    """The command menu: English for everyone, and one list per shipped language.

    setMyCommands takes a two-letter ISO 639-1 `language_code` (none: the default list), so
    Brazilian Portuguese is published for "pt"
    (https://core.telegram.org/bots/api#setmycommands).
    """
    published: set[str | None] = set()
    for locale in catalogs.locales:
        language = None if locale == DEFAULT_LOCALE else locale.split("_")[0]
        if language in published:  # one list per two-letter code (pt_BR and pt_PT share "pt")
            continue
        published.add(language)
        lines = catalogs.lines(locale)
        menu = [BotCommand(spec.name, lines.gettext(spec.description)) for spec in MENU]
        await bot.set_my_commands(menu, language_code=language)
