"""Webhook mode: Telegram POSTs updates to us; each is recorded before we answer 200."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update

from adapters.telegram.convert import PLATFORM
from core.ports import Inbox

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def derived_secret(token: str) -> str:
    """A secret_token every replica derives alike from the bot token (A-Z, a-z, 0-9, _ and -)."""
    return hmac.new(token.encode(), b"avatarbot-webhook", hashlib.sha256).hexdigest()


def webhook_path(url: str) -> str:
    """The path Telegram will POST to, served on the web server."""
    return urlsplit(url).path or "/"


class TelegramWebhook:
    """Receives updates; a request without the right secret header is refused."""

    def __init__(
        self, bot: Bot, inbox: Inbox, queue: asyncio.Queue[object], *, url: str, secret: str
    ) -> None:
        self._bot, self._inbox, self._queue = bot, inbox, queue
        self.url, self._secret = url, secret

    async def register(self) -> None:
        """Tell Telegram where to send updates (setWebhook), with our secret token."""
        await self._bot.set_webhook(
            self.url, secret_token=self._secret, allowed_updates=[Update.MESSAGE]
        )
        log.info("Telegram webhook set to %s", self.url)

    async def handle(self, request: web.Request) -> web.Response:
        """Record the update, queue it, then answer 200 (Telegram redelivers on an error)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning("refused a webhook request without the right secret token")
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, self._bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not an update")
        if update is not None:
            payload = await request.text()
            if await self._inbox.record(PLATFORM, str(update.update_id), payload):
                await self._queue.put(update)
        return web.Response(text="ok")
