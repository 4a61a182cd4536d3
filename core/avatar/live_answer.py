"""One turn's answer and the live avatar: said as it streams when the conversation has a stream.

`LiveAnswer` wraps a platform's view. The first piece of the answer asks for a speaker (there
is one when a stream of the conversation is open and the avatar switch is on); at the final
text the speaker says the rest, and the live avatar either said the answer (the view shows it
as spoken, and no clip is rendered) or the clip path takes over (no stream, or it failed).
"""

from __future__ import annotations

from typing import Protocol

from core.avatar.live_speaker import LiveSpeaker
from core.turn_ports import NO_VIDEO, NoVideo, View
from core.types import AvatarJob, ConversationKey


class SpokenView(View, Protocol):
    """A view that can also show that the live avatar said the answer."""

    async def spoken(self) -> None:
        """Show that the live avatar said the answer: no clip comes for it."""
        ...


class LiveSpeakers(Protocol):
    """Gives a speaker for an answer when the conversation has a live stream (`LiveStreams`)."""

    def speaker(
        self, key: ConversationKey, turn: str, user: str, question: str = ""
    ) -> LiveSpeaker | None:
        """Return a speaker for turn `turn` of `user` in `key`, or None when no stream is open.

        `question`, the message answered, tells a short answer's language.
        """
        ...


class AvatarSwitch(Protocol):
    """Whether a conversation wants avatar videos at all (`Conversations`)."""

    async def avatar_enabled(self, key: ConversationKey) -> bool:
        """Return the conversation's avatar switch."""
        ...


class LiveAnswer:
    """The view of one turn, its answer said live on the way; `view` shows everything else."""

    def __init__(
        self,
        view: SpokenView,
        live: LiveSpeakers,
        switch: AvatarSwitch,
        key: ConversationKey,
        turn: str,
        user: str,
        question: str = "",
    ) -> None:
        self._view, self._live, self._switch = view, live, switch
        self._key, self._turn, self._user = key, turn, user
        self._question = question  # the turn's text; a voice turn's is its transcript
        self._streamed = 0  # characters of the answer fed to the speaker so far
        self._asked = False
        self._speaker: LiveSpeaker | None = None
        self._said: bool | None = None

    async def transcript(self, text: str) -> None:
        """Show what Whisper heard: the question, for the language of a short answer."""
        self._question = self._question or text
        await self._view.transcript(text)

    async def partial(self, text: str) -> None:
        """Show the answer so far; its new piece goes to the speaker."""
        piece, self._streamed = text[self._streamed :], len(text)
        await self._view.partial(text)
        speaker = await self._ask()
        if speaker is not None:
            speaker.feed(piece)

    async def final(self, text: str) -> str | NoVideo:
        """Show the complete answer; NO_VIDEO when the live avatar said it."""
        shown = await self._view.final(text)
        return NO_VIDEO if await self.said(text) else shown

    async def plain(self, text: str) -> str | NoVideo:
        """Send the answer plainly; NO_VIDEO when the live avatar said it."""
        shown = await self._view.plain(text)
        return NO_VIDEO if await self.said(text) else shown

    async def failure(self, message: str) -> None:
        """Say the turn failed."""
        await self._view.failure(message)

    async def notice(self, message: str) -> None:
        """Say why no video comes."""
        await self._view.notice(message)

    async def rendering(self, job: AvatarJob) -> None:
        """Say a video is on its way."""
        await self._view.rendering(job)

    async def said(self, text: str) -> bool:
        """Finish the answer live: True when the live avatar said it (no clip wanted)."""
        if self._said is not None:  # final shown again after a failed attempt
            return self._said
        if not self._asked and (speaker := await self._ask()) is not None:
            speaker.feed(text)  # no pieces came: the whole answer at once
        if self._speaker is None:
            self._said = False
            return False
        outcome = await self._speaker.finish()
        if outcome == "refused" and self._speaker.refusal:
            await self._view.notice(self._speaker.refusal)
        if outcome != "failed":
            await self._view.spoken()
        self._said = outcome != "failed"
        return self._said

    async def _ask(self) -> LiveSpeaker | None:
        if self._asked:
            return self._speaker
        self._asked = True
        if await self._switch.avatar_enabled(self._key):
            self._speaker = self._live.speaker(self._key, self._turn, self._user, self._question)
        return self._speaker
