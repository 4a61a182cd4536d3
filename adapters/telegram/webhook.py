"""Webhook mode: Telegram POSTs updates to us; each is recorded before we answer 200."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update

from adapters.telegram.platform import TelegramPlatform

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few KiB (a text is at most 4096 characters, plus entities and the
# replied-to message); a bigger body is not an update, and is refused before it is read whole.
MAX_BODY = 1024 * 1024


class _NotAnUpdate(Exception):
    """The body is not an update Telegram would send; the text says why."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def derived_secret(token: str) -> str:
    """A secret_token every replica derives alike from the bot token (A-Z, a-z, 0-9, _ and -)."""
    return hmac.new(token.encode(), b"avatarbot-webhook", hashlib.sha256).hexdigest()


def webhook_path(url: str) -> str:
    """The path Telegram will POST to, served on the web server."""
    return urlsplit(url).path or "/"


class TelegramWebhook:
    """Receives updates; a request without the right secret header is refused."""

    def __init__(self, bot: Bot, platform: TelegramPlatform, *, url: str, secret: str) -> None:
        self._bot, self._platform = bot, platform
        self.url, self._secret = url, secret

    async def register(self) -> None:
        """Tell Telegram where to send updates (setWebhook), with our secret token."""
        await self._bot.set_webhook(
            self.url, secret_token=self._secret, allowed_updates=[Update.MESSAGE]
        )
        log.info("Telegram webhook set to %s", self.url)

    async def handle(self, request: web.Request) -> web.Response:
        """Hand the update to the turn runner, then answer 200 (Telegram redelivers on an error)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning("refused a webhook request without the right secret token")
            return web.Response(status=403, text="forbidden")
        try:
            payload = await _body(request)
            update = _update(payload, self._bot)
        except _NotAnUpdate as reason:
            log.warning("refused a webhook request: %s", reason)
            return web.Response(status=reason.status, text="not an update")
        await self._platform.accept([(update, payload)])  # recorded once this returns
        return web.Response(text="ok")


async def _body(request: web.Request) -> str:
    """The body as text, refused past MAX_BODY without reading the rest."""
    if (request.content_length or 0) > MAX_BODY:
        raise _NotAnUpdate(f"body over {MAX_BODY} bytes", 413)
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY:
            raise _NotAnUpdate(f"body over {MAX_BODY} bytes", 413)
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise _NotAnUpdate("body is not UTF-8") from None


def _update(payload: str, bot: Bot) -> Update:
    """An Update from a body that must be a JSON object with an integer update_id."""
    try:
        data: Any = json.loads(payload)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply
        raise _NotAnUpdate(f"body is not JSON ({type(error).__name__})") from None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise _NotAnUpdate("body is not an object with an integer update_id")
    try:
        update = Update.de_json(data, bot)
    except Exception as error:  # PTB raises whatever a malformed field leads to
        raise _NotAnUpdate(f"update {update_id} does not parse ({error!r:.200})") from None
    if update is None:
        raise _NotAnUpdate("body is an empty update")
    return update
