"""Streamed seconds against the daily video budgets that clips count against (core/limits.py).

A streamed answer counts as one video (against the per-user and total video limits) when its
first sentence is reserved, and each sentence reserves its estimated seconds before it is sent,
atomically with the limits, as `Quotas.reserve_render` does for a clip. The D-ID credits are
counted as one clip of the answer's whole length would cost. A sentence D-ID refuses is given
back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.i18n import Line
from core.limits import (
    EVERYONE,
    RENDER_CREDITS,
    RENDER_MS,
    RENDERS,
    Charge,
    Clock,
    Limits,
    credits_for,
    month_period,
    utc_now,
)
from core.ports import Counters


@dataclass(frozen=True, slots=True)
class Held:
    """What one sentence holds: the charges to give back if D-ID refuses it."""

    charges: tuple[Charge, ...]
    ms: int


class StreamBudget:
    """Reserves streamed seconds per answer; a new `AnswerBudget` for each answer."""

    def __init__(self, counters: Counters, limits: Limits, clock: Clock = utc_now) -> None:
        self._counters, self._limits, self._clock = counters, limits, clock

    def answer(self, scope: str) -> AnswerBudget:
        """Start the budget of one answer streamed for `scope` (the user's quota scope)."""
        return AnswerBudget(self._counters, self._limits, scope, self._clock().strftime("%Y-%m-%d"))


class AnswerBudget:
    """One answer's reservations, sentence by sentence."""

    def __init__(self, counters: Counters, limits: Limits, scope: str, day: str) -> None:
        self._counters, self._limits, self._scope, self._day = counters, limits, scope, day
        self.ms = 0  # reserved so far and not given back

    async def reserve(self, seconds: float) -> Held | str:
        """Hold `seconds` more of video, or return the line saying which limit refused it."""
        ms = max(0, math.ceil(seconds * 1000))
        charges = self._charges(ms)
        refused = await self._counters.add_within(charges)
        if refused is not None:
            return _refusal(charges[refused])
        self.ms += ms
        return Held(tuple(charges), ms)

    async def give_back(self, held: Held) -> None:
        """Return a sentence's reservation (D-ID refused it)."""
        back = [Charge(c.period, c.scope, c.name, -c.amount) for c in held.charges]
        await self._counters.add_within(back)
        self.ms -= held.ms

    def _charges(self, ms: int) -> list[Charge]:
        day, user, limits = self._day, self._scope, self._limits
        month = month_period(day)  # the user's month totals, for /usage (no limit), as a clip's

        def limit(seconds: int | None) -> int | None:
            return None if seconds is None else seconds * 1000

        charges = []
        if self.ms == 0:  # the answer's first sentence: it counts as one video
            charges += [
                Charge(day, user, RENDERS, 1, limits.renders_per_user),
                Charge(day, EVERYONE, RENDERS, 1, limits.renders_total),
                Charge(month, user, RENDERS, 1),
            ]
        charges += [
            Charge(day, user, RENDER_MS, ms, limit(limits.seconds_per_user)),
            Charge(day, EVERYONE, RENDER_MS, ms, limit(limits.seconds_total)),
            Charge(month, user, RENDER_MS, ms),
        ]
        credits = credits_for(self.ms + ms) - credits_for(self.ms)
        if credits:
            charges.append(Charge(day, EVERYONE, RENDER_CREDITS, credits))
        return charges


def _refusal(charge: Charge) -> str:
    """Whole sentences per limit, so that each language can say them its own way."""
    mine = charge.scope != EVERYONE
    if charge.name == RENDERS:
        if mine:
            return Line(
                "The avatar stops here: your avatar videos for today are used up "
                "(the rest is in the text)."
            )
        return Line(
            "The avatar stops here: today's avatar videos are all used up "
            "(the rest is in the text)."
        )
    if mine:
        return Line(
            "The avatar stops here: your seconds of avatar video for today are used up "
            "(the rest is in the text)."
        )
    return Line(
        "The avatar stops here: today's avatar seconds are all used up (the rest is in the text)."
    )
