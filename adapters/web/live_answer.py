"""One web answer and the live avatar: said as it streams when the conversation has a stream.

The web view hands every piece of the answer here. The first piece asks for a speaker (there is
one when a stream of the conversation is open and the avatar switch is on); at the final text
the speaker says the rest, and `said` tells the view whether the live avatar said the answer
(then no clip is rendered) or the clip path must take over (no stream, or it failed).
"""

from __future__ import annotations

import logging
from typing import Protocol

from adapters.web import protocol
from adapters.web.delivery import WebDelivery
from adapters.web.speaker import Speaker
from core.conversation import Conversations
from core.types import ConversationKey

log = logging.getLogger(__name__)


class LiveSpeakers(Protocol):
    """Gives a speaker for an answer when the conversation has a live stream (`LiveStreams`)."""

    def speaker(self, conversation: str, turn: str, user: str) -> Speaker | None: ...


class LiveAnswer:
    """The live side of one turn's view; `key` is the turn's inbox key (conversation/turn)."""

    def __init__(
        self,
        live: LiveSpeakers,
        conversations: Conversations,
        delivery: WebDelivery,
        key: str,
        user: str,
    ) -> None:
        self._live, self._conversations, self._delivery = live, conversations, delivery
        self._conversation, _, self._turn = key.partition("/")
        self._user = user
        self._asked = False
        self._speaker: Speaker | None = None
        self._said: bool | None = None

    async def feed(self, piece: str) -> None:
        """The next piece of the answer."""
        speaker = await self._ask()
        if speaker is not None:
            speaker.feed(piece)

    async def said(self, text: str) -> bool:
        """The answer is complete: True when the live avatar said it (no clip wanted)."""
        if self._said is not None:  # final shown again after a failed attempt
            return self._said
        if not self._asked and (speaker := await self._ask()) is not None:
            speaker.feed(text)  # no pieces came: the whole answer at once
        if self._speaker is None:
            self._said = False
            return False
        outcome = await self._speaker.finish()
        if outcome == "refused" and self._speaker.refusal:
            await self._broadcast(
                protocol.error(self._turn, self._speaker.refusal, "video_refused")
            )
        if outcome != "failed":
            await self._broadcast(protocol.status(self._turn, "spoken"))
        self._said = outcome != "failed"
        return self._said

    async def _ask(self) -> Speaker | None:
        if self._asked:
            return self._speaker
        self._asked = True
        key = ConversationKey("web", self._conversation)
        if await self._conversations.avatar_enabled(key):
            self._speaker = self._live.speaker(self._conversation, self._turn, self._user)
        return self._speaker

    async def _broadcast(self, message: protocol.Message) -> None:
        await self._delivery.broadcast(self._conversation, message)
