"""Avatar renders paused after a fault no render gets past (out of credits, key refused, down).

While paused nothing is submitted, and each conversation is told why once.
"""

from __future__ import annotations

import asyncio
import logging

from core.errors import ConfigurationError, OutOfCreditsError, UnavailableError, UserFacingError
from core.i18n import Line
from core.types import ConversationKey

# Every step of a job logs under one name, the runner's: log filters select a job's lines by it.
log = logging.getLogger("core.avatar.jobs")


class RenderPause:
    """Whether renders are paused, until when and why; which conversations were told."""

    def __init__(self, pause_seconds: float) -> None:
        self._pause_seconds = pause_seconds
        self._paused_until = float("-inf")
        self._pause_reason = ""
        self._told: set[ConversationKey] = set()

    @property
    def paused(self) -> bool:
        """Whether renders are paused now (nothing is submitted meanwhile)."""
        return asyncio.get_running_loop().time() < self._paused_until

    def notice(self, key: ConversationKey) -> str | None:
        """While renders are paused: the reason, told once per conversation, else "" (silent).

        None means renders are not paused.
        """
        if asyncio.get_running_loop().time() >= self._paused_until:
            return None
        if key in self._told:
            return ""
        self._told.add(key)
        return self._pause_reason

    def pause(self, exc: UserFacingError) -> None:
        """Stop submitting for a while instead of hammering a service that is down or unpaid."""
        if isinstance(exc, OutOfCreditsError):
            reason = Line("the video service is out of credits")
        elif isinstance(exc, ConfigurationError):
            reason = Line("the video service refused our key")
        elif isinstance(exc, UnavailableError):
            reason = Line("the video service isn't answering")
        else:
            return
        now = asyncio.get_running_loop().time()
        if now >= self._paused_until:
            self._told.clear()
            minutes = max(1, round(self._pause_seconds / 60))
            self._pause_reason = Line(
                "Avatar videos are paused for about {minutes} min: {reason}.",
                minutes=minutes,
                reason=reason,
            )
            log.warning("pausing avatar renders for %.0fs: %s", self._pause_seconds, exc.detail)
        self._paused_until = now + self._pause_seconds

    def told(self, key: ConversationKey) -> None:
        """Note that the conversation was told already (a failure notice said why)."""
        self._told.add(key)


def stops_renders(exc: UserFacingError) -> bool:
    """Whether the failure pauses renders (`RenderPause.pause`): no video can be made a while."""
    return isinstance(exc, OutOfCreditsError | ConfigurationError | UnavailableError)
