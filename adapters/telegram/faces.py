"""`/face` on Telegram: a photo captioned `/face`, or `/face` replying to a photo.

Telegram sends a photo as `PhotoSize`s (the largest last) and a photo sent "as a file" as a
`document` with an image MIME type; either is downloaded with getFile (bots: 20 MB at most).
A command in a caption is marked as a `bot_command` entity of the caption, which
python-telegram-bot's `CommandHandler` does not look at: a caption is matched here, and becomes
the core's `/face` command with the photo, as `/face` replying to a photo does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial

from telegram import Bot, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import filters

from adapters.telegram.calls import call
from adapters.telegram.convert import DOWNLOAD_LIMIT, conversation_key
from core.commands import Command
from core.errors import BadInputError, ServiceError
from core.i18n import Line

# "/face", "/face reset", "/face@ThisBot reset" at the start of a caption.
_CAPTION = re.compile(r"/face(?:@(\w+))?(?:\s+(.*))?", re.IGNORECASE | re.DOTALL)
TOO_BIG = Line("That photo is too big for me: Telegram lets bots download up to 20 MB.")
NOT_FETCHED = Line("I couldn't fetch that photo from Telegram — please send it again.")


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


class FacePhotos:
    """Telegram's side of `/face`: which updates carry one, and their photo as a download."""

    def __init__(self, bot: Bot, allowed: filters.BaseFilter) -> None:
        self._bot = bot
        photo = filters.PHOTO | filters.Document.IMAGE
        self.captioned = allowed & photo & filters.CaptionRegex(r"^/face\b")

    def takes(self, update: Update) -> bool:
        """Whether the update is a photo captioned `/face` (a command: no turn answers it)."""
        message = update.message
        if message is None or not self.captioned.check_update(update):
            return False
        return face_caption(message, self._bot.username) is not None

    def caption_command(self, message: Message, admins: set[str]) -> Command | None:
        """The `/face` of a photo's caption, with the photo; None when the caption is none."""
        argument = face_caption(message, self._bot.username)
        if argument is None:
            return None
        user = message.from_user
        user_id = str(user.id) if user else ""
        command = Command(
            conversation_key(message),
            user_id,
            "face",
            argument,
            locale=user.language_code if user else None,
            is_admin=bool(user_id) and user_id in admins,
        )
        return self.with_photo(command, message)

    def with_photo(self, command: Command, message: Message | None) -> Command:
        """`command` carrying the photo of `message` (the one replied to), if it has one."""
        photo = photo_of(message)
        if photo is None:
            return command
        return replace(command, photo=partial(self._download, photo), photo_size=photo.file_size)

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
