"""Discord objects to core types and back; no I/O here."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import discord

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

    def dump(self) -> str:
        """Serialise for the job table."""
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, raw: str) -> Target:
        """Read back what `dump` wrote."""
        return cls(**json.loads(raw))


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


def filesize_limit(channel: object) -> int:
    """The upload limit of a place: its guild's (boosts raise it), else Discord's default."""
    guild = getattr(channel, "guild", None)
    return guild.filesize_limit if guild is not None else DEFAULT_FILESIZE_LIMIT


def can_attach(message: discord.Message) -> bool:
    """Whether the bot may upload files where `message` was sent, as far as the cache knows (a
    partial channel answers "no permissions": assume yes and let the upload say)."""
    channel, guild = message.channel, message.guild
    if guild is None or guild.me is None:
        return True
    if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return True
    return channel.permissions_for(guild.me).attach_files
