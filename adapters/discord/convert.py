"""Discord objects to core types and back; no I/O here."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import discord

from core.commands import Command
from core.i18n import DEFAULT_LOCALE
from core.types import ConversationKey

PLATFORM = "discord"
# Discord caps message content at 2000 characters.
MESSAGE_LIMIT = 2000
# Uploads default to 10 MiB per file where no guild boost raises the limit (DMs included).
DEFAULT_FILESIZE_LIMIT = 10 * 1024 * 1024
# Whisper takes at most 25 MB per request.
AUDIO_LIMIT = 25 * 1024 * 1024
# Every message pings nobody: not @everyone, roles or users a model names, nor whom it replies to.
SAFE_MENTIONS = discord.AllowedMentions.none()

_AUDIO_SUFFIXES = (".ogg", ".oga", ".opus", ".mp3", ".m4a", ".wav", ".webm", ".flac", ".mp4")


@dataclass(frozen=True, slots=True)
class Target:
    """Where an answer went: its message, and the interaction webhook while its token lives."""

    channel_id: int
    message_id: int
    filesize_limit: int = DEFAULT_FILESIZE_LIMIT
    application_id: int | None = None
    token: str | None = None
    expires_at: float | None = None  # POSIX seconds
    locale: str = DEFAULT_LOCALE  # the locale the answer was given in (core/i18n.py)

    def dump(self) -> str:
        """Serialise for the job table."""
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, raw: str) -> Target:
        """Read back what `dump` wrote."""
        return cls(**json.loads(raw))

    def at(self, message_id: int) -> Target:
        """The same place, for the answer's message `message_id`."""
        return replace(self, message_id=message_id)

    def expired(self, margin: float) -> bool:
        """Whether the interaction's token is over, or within `margin` seconds of its end."""
        return time.time() > (self.expires_at or 0) - margin


@dataclass(frozen=True, slots=True)
class RecordedTalk:
    """A /talk as the inbox keeps it: enough to answer it after a restart."""

    key: ConversationKey
    user_id: str
    text: str | None  # None for an audio file, whose signed URL is not kept
    target: Target  # its interaction webhook, and until when the token lives

    @classmethod
    def load(cls, talk: dict[str, Any]) -> RecordedTalk:
        """Read the "talk" object of an inbox payload."""
        key = ConversationKey(PLATFORM, talk["chat_id"], talk["thread_id"])
        return cls(key, talk["user_id"], talk["text"], Target(**talk["target"]))


def message_payload(message: discord.Message) -> str:
    """The inbox payload of a message: where to fetch it again, and its conversation."""
    key = conversation_key(message.channel)
    ids = {"channel_id": message.channel.id, "message_id": message.id}
    where = {"chat_id": key.chat_id, "thread_id": key.thread_id}
    return json.dumps(ids | where | {"locale": message_locale(message)})


def command_of(interaction: discord.Interaction, name: str, args: str, admins: set[str]) -> Command:
    """The core's command of a slash command: where, by whom, in which locale."""
    user = str(interaction.user.id)
    return Command(
        conversation_key(interaction.channel),
        user,
        name,
        args.strip(),
        locale=str(interaction.locale),
        is_admin=user in admins,
    )


def talk_payload(interaction: discord.Interaction, text: str | None) -> str:
    """The inbox payload of a /talk: its conversation, its text and its interaction webhook."""
    key = conversation_key(interaction.channel)
    talk = {
        "chat_id": key.chat_id,
        "thread_id": key.thread_id,
        "user_id": str(interaction.user.id),
        "text": text,
        "target": asdict(interaction_target(interaction)),
        "locale": str(interaction.locale),
    }
    return json.dumps({"talk": talk})


def payload_key(payload: dict[str, Any]) -> ConversationKey:
    """The conversation of an inbox payload (one recorded without it: its channel's)."""
    where = payload.get("talk", payload)
    chat_id = where.get("chat_id", str(payload.get("channel_id", "")))
    return ConversationKey(PLATFORM, chat_id, where.get("thread_id", ""))


def payload_locale(payload: dict[str, Any]) -> str | None:
    """The Discord locale an inbox payload was recorded with ("fr", "es-ES"), if any."""
    locale = payload.get("talk", payload).get("locale")
    return locale if isinstance(locale, str) else None


def message_locale(message: discord.Message) -> str | None:
    """A message carries no locale of its sender: its guild's preferred locale, if any.

    (Interactions carry the user's, https://discord.com/developers/docs/interactions/receiving-and-responding)
    """
    return str(message.guild.preferred_locale) if message.guild is not None else None


def interaction_target(interaction: discord.Interaction) -> Target:
    """Where a /talk is answered: its webhook while the token lives (`at` its answer's message)."""
    expires = interaction.created_at + dt.timedelta(minutes=15)
    return Target(
        channel_id=interaction.channel_id or 0,
        message_id=0,
        filesize_limit=interaction.filesize_limit,
        application_id=interaction.application_id,
        token=interaction.token,
        expires_at=expires.timestamp(),
    )


def message_target(message: discord.Message, answer_id: int) -> Target:
    """Where a message's answer went, and the upload limit there: its guild's (boosts raise
    it), else Discord's default."""
    guild = getattr(message.channel, "guild", None)
    limit = guild.filesize_limit if guild is not None else DEFAULT_FILESIZE_LIMIT
    return Target(message.channel.id, answer_id, limit)


def conversation_key(channel: object) -> ConversationKey:
    """A channel or DM is one conversation; a thread is its own, under its parent channel."""
    if isinstance(channel, discord.Thread):
        return ConversationKey(PLATFORM, str(channel.parent_id), str(channel.id))
    channel_id = getattr(channel, "id", 0)
    return ConversationKey(PLATFORM, str(channel_id))


def strip_mentions(content: str, bot_id: int) -> str:
    """Remove `<@bot>` / `<@!bot>` from a message's text."""
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()


def audio_attachment(attachments: list[discord.Attachment]) -> discord.Attachment | None:
    """The first attachment that is audio (a voice message has exactly one OGG/Opus file)."""
    for attachment in attachments:
        content_type = (attachment.content_type or "").split(";")[0]
        if content_type.startswith("audio/") or attachment.filename.lower().endswith(
            _AUDIO_SUFFIXES
        ):
            return attachment
    return None


def image_attachment(attachments: list[discord.Attachment]) -> discord.Attachment | None:
    """The first attachment that is an image (Discord gives its `content_type`: image/png...)."""
    for attachment in attachments:
        if (attachment.content_type or "").startswith("image/"):
            return attachment
    return None


def can_attach(message: discord.Message) -> bool:
    """Whether the bot may upload files where `message` was sent, as far as the cache knows (a
    partial channel answers "no permissions": assume yes and let the upload say)."""
    channel, guild = message.channel, message.guild
    if guild is None or guild.me is None:
        return True
    if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return True
    return channel.permissions_for(guild.me).attach_files
