"""Telegram objects to core types and back; no I/O here."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from telegram import Message, MessageEntity
from telegram.constants import ChatType

from core.commands import Command
from core.i18n import DEFAULT_LOCALE
from core.images import MAX_IMAGE_BYTES
from core.types import ConversationKey

PLATFORM = "telegram"
# Bots may download files up to 20 MB through getFile (a self-hosted Bot API server lifts this).
DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaRef:
    """An audio or image file attached to a message, not downloaded yet."""

    file_id: str
    file_size: int | None
    mime_type: str
    filename: str
    duration: float | None = None  # seconds, as the sender's client reports it


@dataclass(frozen=True, slots=True)
class Ask:
    """What a message asks of the model: its text, the audio to transcribe, or a photo.

    With a photo, `text` is its caption. None of them: a message the bot cannot read (a
    sticker, a location), answered with a hint.
    """

    text: str | None = None
    media: MediaRef | None = None
    image: MediaRef | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where an answer went, so the video can reply to it (and in which locale to talk)."""

    chat_id: int
    message_id: int
    thread_id: int | None = None
    locale: str = DEFAULT_LOCALE

    def dump(self) -> str:
        """Serialise for the job table."""
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, raw: str) -> Target:
        """Read back what `dump` wrote."""
        return cls(**json.loads(raw))


def seconds(duration: int | dt.timedelta) -> float:
    """PTB gives durations as int seconds, or as timedelta with PTB_TIMEDELTA set."""
    return duration.total_seconds() if isinstance(duration, dt.timedelta) else float(duration)


def thread_of(message: Message) -> int | None:
    """A forum topic's id; replies in ordinary groups also carry a thread id, which is not one."""
    return message.message_thread_id if message.is_topic_message else None


def conversation_key(message: Message) -> ConversationKey:
    """One conversation per private chat, group, or forum topic."""
    thread = thread_of(message)
    return ConversationKey(PLATFORM, str(message.chat_id), "" if thread is None else str(thread))


def command_of(message: Message, admins: set[str]) -> Command | None:
    """The core's command in a message starting `/name` (or `/name@bot`), with its raw text after.

    None for a message that holds no command at its start.
    """
    text = message.text or ""
    if not text.startswith("/"):
        return None
    head, _, args = text.partition(" ")
    name = head[1:].partition("@")[0].lower()
    user = message.from_user
    user_id = str(user.id) if user else ""
    return Command(
        conversation_key(message),
        user_id,
        name,
        args.strip(),
        locale=user.language_code if user else None,
        is_admin=bool(user_id) and user_id in admins,
    )


def message_ask(message: Message, bot_id: int, username: str) -> Ask | None:
    """What a message that is no command asks (None: nothing, from a bot or to someone else).

    Anything in a private chat; in a group, only a message that mentions the bot or replies to it.
    """
    if message.from_user is None or message.from_user.is_bot:
        return None
    text = message.text or message.caption
    if message.chat.type != ChatType.PRIVATE:
        if not (mentions_bot(message, bot_id, username) or replies_to_bot(message, bot_id)):
            return None
        text = strip_mention(text, username) if text else text
    media = media_of(message)
    if media is not None:
        return Ask(media=media)
    image = image_of(message)
    if image is not None:
        return Ask(text=text, image=image)
    # A bare @mention is a text message too: the core answers it with a hint.
    return Ask(text=text) if text or message.text is not None else Ask()


def talk_ask(message: Message, args: Sequence[str]) -> Ask | None:
    """/talk <text>, or /talk as a reply to a voice note (its audio) or to a photo (the photo,
    asked about in <text>); None for none of them."""
    replied = message.reply_to_message
    media = media_of(replied) if replied else None
    if media is not None:
        return Ask(media=media)
    text = " ".join(args).strip()
    image = image_of(replied) if replied else None
    if image is not None:
        return Ask(text=text or None, image=image)
    return Ask(text=text) if text else None


def media_of(message: Message) -> MediaRef | None:
    """The audio to transcribe: a voice note, an audio file, a round video or an audio document."""
    if message.voice:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        return MediaRef(voice.file_id, voice.file_size, mime, "voice.ogg", seconds(voice.duration))
    if message.audio:
        audio = message.audio
        name = audio.file_name or "audio"
        mime = audio.mime_type or "audio/mpeg"
        return MediaRef(audio.file_id, audio.file_size, mime, name, seconds(audio.duration))
    if message.video_note:
        note = message.video_note
        return MediaRef(
            note.file_id, note.file_size, "video/mp4", "video_note.mp4", seconds(note.duration)
        )
    document = message.document
    if document and (document.mime_type or "").startswith("audio/"):
        name = document.file_name or "audio"
        return MediaRef(document.file_id, document.file_size, document.mime_type or "", name)
    return None


def image_of(message: Message) -> MediaRef | None:
    """A photo to look at: the largest size of a photo that a vision request can carry (Telegram
    sends several sizes, smallest first), or a document with an image MIME type."""
    if message.photo:
        fitting = [p for p in message.photo if (p.file_size or 0) <= MAX_IMAGE_BYTES]
        best = max(fitting or message.photo, key=lambda size: size.width * size.height)
        return MediaRef(best.file_id, best.file_size, "image/jpeg", "photo.jpg")
    document = message.document
    if document and (document.mime_type or "").startswith("image/"):
        name = document.file_name or "image"
        return MediaRef(document.file_id, document.file_size, document.mime_type or "", name)
    return None


def mentions_bot(message: Message, bot_id: int, username: str) -> bool:
    """Whether a message @mentions the bot, by username or as a text mention."""
    handle = f"@{username}".lower()
    entities = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
    entities |= message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == handle:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
    return False


def replies_to_bot(message: Message, bot_id: int) -> bool:
    """Whether a message answers one of the bot's own messages."""
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


def strip_mention(text: str, username: str) -> str:
    """Remove the bot's @handle from a message's text."""
    handle = f"@{username}"
    at = text.lower().find(handle.lower())
    while at >= 0:
        text = (text[:at] + text[at + len(handle) :]).strip()
        at = text.lower().find(handle.lower())
    return " ".join(text.split(" ")).strip()
