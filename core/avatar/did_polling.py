"""Polling a D-ID talk: when to poll it, how long renders take, and what a polled talk says."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.avatar.did_errors import FAILED
from core.errors import TalkFailedError


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to poll a render: sparsely while it cannot be done yet, densely near its expected end.

    Each `GET /talks/{id}` costs a request against D-ID's rate limit, and every second between
    the end of a render and the next poll is a second the user waits for the video. So the first
    poll comes after `first` seconds (an early refusal shows quickly), later waits double at most
    and close `approach` of the distance to the expected finish, never shorter than `interval`;
    past the expected finish a wait is `overdue` times the time overdue, so a slow render costs
    few polls. `expected` is the render time assumed until renders have been timed.
    """

    first: float = 4.0
    interval: float = 1.0
    timeout: float = 300.0
    expected: float = 40.0
    approach: float = 2 / 3
    overdue: float = 1 / 3
    # With a webhook, polls only catch a lost callback.
    fallback: float = 20.0

    def next_delay(self, elapsed: float, expected: float) -> float:
        """Seconds to wait before the next poll of a talk submitted `elapsed` seconds ago."""
        if elapsed < self.first:
            return self.first - elapsed
        remaining = expected - elapsed
        if remaining > 0:
            wait = min(remaining * self.approach, elapsed)
        else:
            wait = -remaining * self.overdue
        return max(wait, self.interval)


class RenderEstimate:
    """How long renders take lately: a weighted running mean of timed renders."""

    def __init__(self, initial: float, weight: float = 0.3) -> None:
        self.seconds = initial
        self._weight = weight

    def observe(self, seconds: float) -> None:
        """Fold in one render's duration, measured from its submit."""
        self.seconds += self._weight * (seconds - self.seconds)


def outcome(talk_id: str, talk: dict[str, Any]) -> str | None:
    """Return the talk's `result_url` once it is done, None while it renders; raise if it failed."""
    status, url = talk.get("status"), talk.get("result_url")
    if status == "done" and isinstance(url, str) and url:
        return url
    if status in ("error", "rejected"):
        error = talk.get("error")
        kind = error.get("kind") if isinstance(error, dict) else None
        raise TalkFailedError(
            FAILED,
            kind=kind if isinstance(kind, str) else status,
            detail=f"talk {talk_id} {status}: {error}",
        )
    return None


def created(talk: dict[str, Any] | None) -> float:
    """Return the monotonic time the talk was created, by its `created_at` (else now).

    D-ID's `created_at` is ISO 8601 in UTC with milliseconds: "2023-03-22T16:38:49.723Z"
    (docs.d-id.com/reference/talks-overview).
    """
    now = time.monotonic()
    try:
        created = datetime.fromisoformat(talk.get("created_at") if talk else None)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return now
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - created).total_seconds()
    return now - max(age, 0.0)
