"""What the turn runner needs of a platform: a `Platform`, the `View` of one turn's answer.

Also the small types they speak: `Declined` (a message that cannot be answered, raised by
`Platform.turn`), `NO_VIDEO` (what `View.final` returns where no video can go) and the
optional `Finishing` hook. `core/turns.py` runs turns through them.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from core.i18n import DEFAULT_LOCALE
from core.types import AvatarJob, ConversationKey, InboxEntry, Turn


class Declined(Exception):
    """The message cannot be answered (a file too big, a format not understood).

    Its text is one line for the user (a `Line`: said in `locale`); the message counts as
    answered.
    """

    def __init__(self, message: str, *, locale: str = DEFAULT_LOCALE) -> None:
        super().__init__(message)
        self.message, self.locale = message, locale


class NoVideo:
    """What `View.final` returns for an answer shown where no video can go: none is requested.

    For example a channel where the bot may not upload files.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VIDEO"


NO_VIDEO: Final = NoVideo()


class View(Protocol):
    """Shows one turn's answer where it was asked. Every method may raise; the runner copes."""

    async def transcript(self, text: str) -> None:
        """Show what Whisper heard in a voice message."""
        ...

    async def partial(self, text: str) -> None:
        """Show the answer so far (the whole text, not a delta); may skip updates to pace them."""
        ...

    async def final(self, text: str) -> str | NoVideo:
        """Show the complete answer; return where it went for the video to reply to, or NO_VIDEO."""
        ...

    async def plain(self, text: str) -> str | NoVideo:
        """Send the complete answer the simplest way the platform has (no formatting, no edits)."""
        ...

    async def failure(self, message: str) -> None:
        """Say in one line that the turn failed (no answer was produced)."""
        ...

    async def notice(self, message: str) -> None:
        """Say in one line why no video comes (a quota, a pause)."""
        ...

    async def rendering(self, job: AvatarJob) -> None:
        """Say a video of the answer is on its way (its delivery sends it when ready)."""
        ...


class Platform(Protocol):
    """What the runner needs of a platform to answer its recorded messages."""

    @property
    def name(self) -> str:
        """The platform name of its inbox entries and conversation keys."""
        ...

    def key(self, entry: InboxEntry) -> ConversationKey:
        """Name the conversation the entry belongs to (no I/O: it decides the order)."""
        ...

    async def turn(self, entry: InboxEntry) -> Turn | None:
        """Decode the entry into a turn, downloading its audio if needed; raise `Declined`.

        None: there is nothing to answer, and the platform saw to the entry itself (a command
        such as a reset, in its place among the conversation's messages).
        """
        ...

    def view(self, entry: InboxEntry) -> View:
        """Where and how this entry's answer is shown."""
        ...


@runtime_checkable
class Finishing(Protocol):
    """Optional for a `Platform`: told when the runner is done with each of its messages."""

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        """Done with `entry`: answered (free what it held), or left unanswered in the inbox."""
        ...
