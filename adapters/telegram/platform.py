"""Telegram as the turn runner sees it: recorded updates back to turns, and where to answer them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from telegram import Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from adapters.telegram.calls import call
from adapters.telegram.convert import (
    DOWNLOAD_LIMIT,
    PLATFORM,
    MediaRef,
    conversation_key,
)
from adapters.telegram.handlers import (
    OOPS,
    TOO_BIG,
    UNSUPPORTED,
    UNSUPPORTED_WITH_PHOTOS,
    TelegramHandlers,
)
from adapters.telegram.stream import AnswerStream
from core.groq.audio import MAX_AUDIO_SECONDS, TOO_LONG
from core.images import MAX_IMAGE_BYTES
from core.images import TOO_BIG as IMAGE_TOO_BIG
from core.turn_ports import Declined
from core.turns import TurnRunner
from core.types import Audio, ConversationKey, Image, InboxEntry, Turn

log = logging.getLogger(__name__)


class TelegramPlatform:
    """Turns recorded updates into turns and views; a command is carried out in its turn's place.

    An update is parsed once: the poller's and the webhook's are kept as they arrived until
    the runner is done with them, a replayed one is parsed from its payload.
    """

    name = PLATFORM

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        runner: TurnRunner,
        handlers: TelegramHandlers,
        view: Callable[..., AnswerStream],  # given the message, and whether "typing…" shows
        *,
        photos: bool = False,  # VISION_MODEL answers photos
    ) -> None:
        self._application, self._bot, self._runner = application, application.bot, runner
        self._handlers, self._view, self._photos = handlers, view, photos
        self._updates: dict[str, Update] = {}

    async def accept(self, received: Sequence[tuple[Update, str]]) -> None:
        """Record (update, payload) pairs in one statement; the runner answers the new ones.

        Once this returns they are in the inbox: Telegram may be told they arrived.
        """
        # Every update subscribed to has a message.
        kept = {str(u.update_id): (u, payload) for u, payload in received if u.message is not None}
        self._updates.update((key, update) for key, (update, _) in kept.items())
        new: list[str] = []
        try:
            new = await self._runner.accept_many(self, [(k, p) for k, (_, p) in kept.items()])
        finally:
            for key in kept.keys() - set(new):  # recorded before (a redelivery), or not at all
                self._updates.pop(key, None)

    def key(self, entry: InboxEntry) -> ConversationKey:
        """The private chat, group or forum topic of the update's message."""
        return conversation_key(self._message(entry))

    def view(self, entry: InboxEntry) -> AnswerStream:
        """A reply to the update's message; "typing…" shows while an answer is on its way."""
        asked, message = self._handlers.asked(self._update(entry)), self._message(entry)
        return self._view(message, self._handlers.lines(message), typing=asked is not None)

    async def turn(self, entry: InboxEntry) -> Turn | None:
        """The message's text, downloaded audio or photo; None for a command, carried out by
        then. A photo is fetched again through getFile after a restart, as audio is."""
        update = self._update(entry)
        message = self._message(entry)
        ask = self._handlers.asked(update)
        if ask is None:
            await self._application.process_update(update)  # python-telegram-bot's handlers
            return None
        user = str(message.from_user.id) if message.from_user else ""
        locale = self._handlers.locale(message)
        if ask.image is not None and self._photos:
            image = await self._download_image(ask.image, locale)
            key = conversation_key(message)
            return Turn(key, user, text=ask.text, image=image, locale=locale)
        if ask.media is None and ask.text is None:  # photos off: a caption is answered as text
            raise Declined(UNSUPPORTED_WITH_PHOTOS if self._photos else UNSUPPORTED, locale=locale)
        audio = await self._download(ask.media, locale) if ask.media else None
        return Turn(conversation_key(message), user, text=ask.text, audio=audio, locale=locale)

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        """Forget the parsed update: answered, or left in the inbox for the next start."""
        self._updates.pop(entry.message_key, None)

    def _update(self, entry: InboxEntry) -> Update:
        update = self._updates.get(entry.message_key)
        if update is None:
            update = Update.de_json(json.loads(entry.payload), self._bot)
            self._updates[entry.message_key] = update
        return update

    def _message(self, entry: InboxEntry) -> Message:
        message = self._update(entry).message
        if message is None:  # `accept` records none such
            raise ValueError(f"Telegram update {entry.message_key} has no message")
        return message

    async def _download(self, media: MediaRef, locale: str) -> Audio:
        # Decline by the sizes Telegram reports, before anything is downloaded or transcribed.
        if media.file_size is not None and media.file_size > DOWNLOAD_LIMIT:
            raise Declined(TOO_BIG, locale=locale)
        if (media.duration or 0) > MAX_AUDIO_SECONDS:
            raise Declined(TOO_LONG, locale=locale)
        return Audio(await self._fetch(media, locale), media.mime_type, media.filename)

    async def _download_image(self, media: MediaRef, locale: str) -> Image:
        # Telegram's 20 MB download limit first, then what a Groq vision request can carry.
        if media.file_size is not None and media.file_size > DOWNLOAD_LIMIT:
            raise Declined(TOO_BIG, locale=locale)
        if media.file_size is not None and media.file_size > MAX_IMAGE_BYTES:
            raise Declined(IMAGE_TOO_BIG, locale=locale)
        return Image(await self._fetch(media, locale), media.mime_type)

    async def _fetch(self, media: MediaRef, locale: str) -> bytes:
        """getFile, then the download; Telegram's refusal or a network fault is one line."""
        try:
            file = await call(lambda: self._bot.get_file(media.file_id))
            data = await call(file.download_as_bytearray)
        except TelegramError as error:  # refused, or the network after retries
            if isinstance(error, BadRequest) and "too big" in error.message.lower():
                raise Declined(TOO_BIG, locale=locale) from error
            log.warning("downloading %s failed: %s", media.filename, error)
            raise Declined(OOPS, locale=locale) from error
        return bytes(data)
