"""What the limits count and on what: the `Limits` settings, periods, scopes and charges.

A counter is named per period (a UTC day `YYYY-MM-DD`, its month, a minute) and scope (a user on
their platform, or everyone). A `Charge` adds to one counter within a limit; a render's
`Reservation` is the video budget it holds, and an `AnswerHold` one of the day's model answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from core.types import AvatarJob, ConversationKey

Clock = Callable[[], dt.datetime]
EVERYONE = "*"
RENDERS, RENDER_MS, RENDER_CREDITS = "renders", "render_ms", "render_credits"
ANSWERS = "answers"  # turns the model was asked to answer, per UTC day
# D-ID rounds each video up to the next 15 seconds, one credit each
# (https://www.d-id.com/pricing/studio, FAQ: "rounded up to the nearest 15-second interval").
BILLED_MS = 15_000


def utc_now() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


def user_scope(key: ConversationKey, user_id: str) -> str:
    """Whose budgets and usage a turn counts on: the user on their platform (else the chat)."""
    return f"{key.platform}:{user_id or key.chat_id}"


def month_period(day: str) -> str:
    """Return the counters' period of the month of `day` (YYYY-MM-DD): `YYYY-MM-month`.

    It sorts after its month's days and before the next month, so pruning days keeps it until
    its month is over (`2026-12` would sort before `2026-12-01` and go at once); a letter, as
    collations that skip punctuation order it the same.
    """
    return f"{day[:7]}-month"


def credits_for(ms: int) -> int:
    """Count the D-ID credits one video of `ms` milliseconds costs: one per started 15 s."""
    return -(-ms // BILLED_MS) if ms > 0 else 0


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits; None: no limit.

    Per UTC day: videos and seconds of video, per user and in total; messages the model answers,
    in total. Messages per user per minute.
    """

    renders_per_user: int | None = None
    renders_total: int | None = None
    messages_per_minute: int | None = None
    seconds_per_user: int | None = None
    seconds_total: int | None = None
    messages_total: int | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    """An amount to add to one counter; refused when the count would pass `limit`."""

    period: str
    scope: str
    name: str
    amount: int
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """The video budget one render holds: the UTC day it counts on, whose it is, its length."""

    day: str
    scope: str
    ms: int

    @classmethod
    def of(cls, job: AvatarJob) -> Reservation | None:
        """Return the reservation a job was submitted with, if any."""
        if job.reserved_day is None or job.reserved_scope is None:
            return None
        return cls(job.reserved_day, job.reserved_scope, job.reserved_ms)

    def charges(self, limits: Limits | None = None, sign: int = 1) -> list[Charge]:
        """List the counters the reservation adds to (`sign` -1: takes back), with limits."""

        def ms(seconds: int | None) -> int | None:
            return None if seconds is None else seconds * 1000

        day, user, limits = self.day, self.scope, limits or Limits()
        month = month_period(day)  # the user's month totals, for /usage (no limit)
        return [
            Charge(day, user, RENDERS, sign, limits.renders_per_user),
            Charge(day, EVERYONE, RENDERS, sign, limits.renders_total),
            Charge(day, user, RENDER_MS, sign * self.ms, ms(limits.seconds_per_user)),
            Charge(day, EVERYONE, RENDER_MS, sign * self.ms, ms(limits.seconds_total)),
            Charge(day, EVERYONE, RENDER_CREDITS, sign * credits_for(self.ms)),
            Charge(month, user, RENDERS, sign),
            Charge(month, user, RENDER_MS, sign * self.ms),
        ]


@dataclass(frozen=True, slots=True)
class AnswerHold:
    """One of the day's model answers, held by a turn: the UTC day it counts on."""

    day: str
