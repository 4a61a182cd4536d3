"""`/face` on Telegram: a photo captioned `/face`, or `/face` replying to a photo.

Telegram sends a photo as `PhotoSize`s (the largest last) and a photo sent "as a file" as a
`document` with an image MIME type; either is downloaded with getFile (bots: 20 MB at most).
A command in a caption is marked as a `bot_command` entity of the caption, which
python-telegram-bot's `CommandHandler` does not look at: a caption is matched here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from telegram import Bot, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from adapters.telegram.calls import call
from adapters.telegram.convert import DOWNLOAD_LIMIT, conversation_key
from core.avatar.faces import FaceCommand, Photo
from core.errors import BadInputError, ServiceError

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
# "/face", "/face reset", "/face@ThisBot reset" at the start of a caption.
_CAPTION = re.compile(r"/face(?:@(\w+))?(?:\s+(.*))?", re.IGNORECASE | re.DOTALL)
TOO_BIG = "That photo is too big for me: Telegram lets bots download up to 20 MB."
NOT_FETCHED = "I couldn't fetch that photo from Telegram — please send it again."


@dataclass(frozen=True, slots=True)
class FacePhoto:
    """A photo to become the avatar's face, not downloaded yet."""

    file_id: str
    file_size: int | None


def photo_of(message: Message | None) -> FacePhoto | None:
    """The message's photo at its largest, or an image sent as a file; None when it has none."""
    if message is None:
        return None
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return FacePhoto(largest.file_id, largest.file_size)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return FacePhoto(document.file_id, document.file_size)
    return None


def face_caption(message: Message, username: str) -> str | None:
    """The argument of a `/face` caption ("" for none); None when the caption is no `/face`."""
    match = _CAPTION.fullmatch((message.caption or "").strip())
    if match is None or (match[1] is not None and match[1].lower() != username.lower()):
        return None
    return (match[2] or "").strip()


class TelegramFaces:
    """Carries out `/face` through the core's `FaceCommand`, replying with its one line."""

    def __init__(self, command: FaceCommand, bot: Bot, allowed: filters.BaseFilter) -> None:
        self._command, self._bot = command, bot
        captioned = (filters.PHOTO | filters.Document.IMAGE) & filters.CaptionRegex(r"^/face\b")
        self._captioned = MessageHandler(allowed & captioned, self.captioned)
        self.handlers: list[BaseHandler[Update, Context, None]] = [
            self._captioned,
            CommandHandler("face", self.command, filters=allowed),
        ]

    def takes(self, update: Update) -> bool:
        """Whether the update is a photo captioned `/face` (which no turn must answer)."""
        message = update.message
        if message is None or not self._captioned.check_update(update):
            return False
        return face_caption(message, self._bot.username) is not None

    async def captioned(self, update: Update, _: Context) -> None:
        """A photo captioned `/face` (or `/face reset`)."""
        message = update.effective_message
        if message is None:
            return
        argument = face_caption(message, self._bot.username)
        if argument is not None:
            await self._carry_out(message, argument, photo_of(message))

    async def command(self, update: Update, context: Context) -> None:
        """`/face` as text: with a reply to a photo, that photo; `/face reset`; or a hint."""
        if message := update.effective_message:
            argument = " ".join(context.args or [])
            await self._carry_out(message, argument, photo_of(message.reply_to_message))

    async def _carry_out(self, message: Message, argument: str, photo: FacePhoto | None) -> None:
        download: Photo | None = None
        if photo is not None:

            async def download() -> bytes:
                return await self._download(photo)

        size = None if photo is None else photo.file_size
        line = await self._command.handle(conversation_key(message), argument, download, size)
        try:
            await call(lambda: message.reply_text(line, do_quote=True))
        except TelegramError as error:
            log.info("could not answer /face in chat %s: %s", message.chat_id, error)

    async def _download(self, photo: FacePhoto) -> bytes:
        if photo.file_size is not None and photo.file_size > DOWNLOAD_LIMIT:
            raise BadInputError(TOO_BIG, detail=f"face photo of {photo.file_size} bytes")
        try:
            file = await call(lambda: self._bot.get_file(photo.file_id))
            data = await call(file.download_as_bytearray)
        except TelegramError as error:
            if isinstance(error, BadRequest) and "too big" in error.message.lower():
                raise BadInputError(TOO_BIG, detail=str(error)) from error
            raise ServiceError(NOT_FETCHED, detail=f"face photo download: {error}") from error
        return bytes(data)
