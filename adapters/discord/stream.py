"""One answer on its way to Discord: a reply (or interaction response) edited as it streams."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from adapters.discord.convert import MESSAGE_LIMIT, SAFE_MENTIONS
from core import text as limits


class MessageSurface:
    """Answers a message: the first part replies to it, later edits change that reply."""

    def __init__(self, message: discord.Message) -> None:
        self._message = message
        self._reply: discord.Message | None = None

    async def show(self, text: str) -> int:
        """Create or edit the reply; return its id."""
        if self._reply is None:
            self._reply = await self._message.reply(
                text, allowed_mentions=SAFE_MENTIONS, mention_author=False
            )
        else:
            await self._reply.edit(content=text, allowed_mentions=SAFE_MENTIONS)
        return self._reply.id

    async def more(self, text: str) -> int:
        """Send a further part of a long answer."""
        sent = await self._message.channel.send(text, allowed_mentions=SAFE_MENTIONS)
        return sent.id


class InteractionSurface:
    """Answers a deferred slash command: edits its original response, follow-ups for the rest."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction

    async def show(self, text: str) -> int:
        """Edit the deferred response; return its message id."""
        message = await self._interaction.edit_original_response(
            content=text, allowed_mentions=SAFE_MENTIONS
        )
        return message.id

    async def more(self, text: str) -> int:
        """Send a further part as a follow-up."""
        sent = await self._interaction.followup.send(
            text, allowed_mentions=SAFE_MENTIONS, wait=True
        )
        return sent.id


# Discord's name for an interaction's original response; discord.py puts it in the route as given.
_ORIGINAL: Any = "@original"


class WebhookSurface:
    """Answers a deferred slash command through its webhook, which outlives a restart.

    The interaction's token stays valid for 15 minutes: a `/talk` cut by a stop is answered
    after the next start in the same original response.
    """

    def __init__(self, webhook: discord.Webhook) -> None:
        self._webhook = webhook

    async def show(self, text: str) -> int:
        """Edit the original response; return its message id."""
        message = await self._webhook.edit_message(
            _ORIGINAL, content=text, allowed_mentions=SAFE_MENTIONS
        )
        return message.id

    async def more(self, text: str) -> int:
        """Send a further part as a follow-up."""
        sent = await self._webhook.send(text, allowed_mentions=SAFE_MENTIONS, wait=True)
        return sent.id


Surface = MessageSurface | InteractionSurface | WebhookSurface


class AnswerStream:
    """Streams an answer by editing one message at most once per `interval`, then finishes it."""

    def __init__(self, surface: Surface, interval: float = 1.0) -> None:
        self._surface, self._interval = surface, interval
        self._last_shown = float("-inf")
        self.transcript: str | None = None

    async def update(self, text: str) -> None:
        """Show the answer so far, unless the last edit was less than `interval` ago."""
        now = asyncio.get_running_loop().time()
        if now - self._last_shown < self._interval:
            return
        self._last_shown = now
        await self._surface.show(limits.truncate(self._header() + text, MESSAGE_LIMIT))

    async def finish(self, answer: str) -> int:
        """Show the whole answer in parts of at most 2000 characters; return the last id."""
        header = self._header()
        parts = limits.split(answer, MESSAGE_LIMIT - len(header))
        message_id = await self._surface.show(header + parts[0])
        for part in parts[1:]:
            message_id = await self._surface.more(part)
        return message_id

    async def note(self, text: str) -> None:
        """Send a short extra line after the answer."""
        await self._surface.more(text)

    async def fail(self, message: str) -> None:
        """Say in one line what went wrong."""
        await self._surface.show(self._header() + f"⚠️ {message}")

    def _header(self) -> str:
        if not self.transcript:
            return ""
        return f"🎤 *{discord.utils.escape_markdown(self.transcript)}*\n\n"
