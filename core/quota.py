"""Quotas on paid renders and message rates, counted in the database so a restart resets nothing.

A render reserves its video budget before it is submitted (videos and milliseconds of video, per
user and in total per UTC day) in one atomic step, and gets it back when D-ID fails the render.
A turn reserves one of the day's model answers (for everyone together) the same way before the
model is asked, and gets it back when no answer came of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from core.i18n import Line
from core.limits import (
    ANSWERS,
    EVERYONE,
    RENDER_CREDITS,
    RENDER_MS,
    RENDERS,
    AnswerHold,
    Charge,
    Clock,
    Limits,
    Reservation,
    utc_now,
)
from core.ports import Counters
from core.types import AvatarJob

log = logging.getLogger(__name__)


class Quotas:
    """Admits messages and renders within the configured limits, and keeps the daily stats."""

    def __init__(self, counters: Counters, limits: Limits, clock: Clock = utc_now) -> None:
        self._counters, self._limits, self._clock = counters, limits, clock
        self._warned_on = ""  # the UTC day the operator was told the answers ran out

    def _day(self) -> str:
        return self._clock().strftime("%Y-%m-%d")

    def _resets_in(self) -> str:
        now = self._clock()
        midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        hours, minutes = divmod(math.ceil((midnight - now).total_seconds() / 60), 60)
        if hours:
            return Line("{hours} h {minutes} min", hours=hours, minutes=minutes)
        return Line("{minutes} min", minutes=minutes)

    async def admit_message(self, user: str) -> str | None:
        """Count a message; return a line for the user when they send too fast, else None."""
        day, limit = self._day(), self._limits.messages_per_minute
        if limit is None:
            await self._counters.add(day, EVERYONE, "messages")
            return None
        minute = self._clock().strftime("%Y-%m-%dT%H:%M")
        rows = [(day, EVERYONE, "messages"), (minute, user, "messages")]
        if (await self._counters.add_many(rows))[1] > limit:
            return Line("You're sending messages faster than I can answer — please wait a minute.")
        return None

    async def hold_answer(self) -> AnswerHold | str:
        """Hold one of today's model answers (MESSAGES_DAILY_LIMIT_TOTAL) before the model is asked.

        One atomic step on the shared counters, so turns at once, on any replica, never pass the
        limit. Returns the hold to give back when no answer comes, or the user's line.
        """
        day = self._day()
        charge = Charge(day, EVERYONE, ANSWERS, 1, self._limits.messages_total)
        if await self._counters.add_within([charge]) is None:
            return AnswerHold(day)
        if self._warned_on != day:
            self._warned_on = day
            log.warning(
                "MESSAGES_DAILY_LIMIT_TOTAL (%s) reached: no more answers until 00:00 UTC",
                self._limits.messages_total,
            )
        return Line(
            "I've answered all the messages I can for today — please come back in {time}.",
            time=self._resets_in(),
        )

    @property
    def answers_limit(self) -> int | None:
        """MESSAGES_DAILY_LIMIT_TOTAL: the model answers a UTC day allows; None: no limit."""
        return self._limits.messages_total

    async def give_back_answer(self, hold: AnswerHold) -> None:
        """Give back a held answer the model never gave (it failed, or the input was refused)."""
        try:
            await self._counters.add_within([Charge(hold.day, EVERYONE, ANSWERS, -1)])
        except Exception:
            log.exception("could not give back a model answer held on %s", hold.day)

    async def reserve_render(self, user: str, seconds: float) -> Reservation | str:
        """Hold one video of `seconds` against today's limits, all of it or none of it.

        Returns the reservation to submit the render with, or a line for the user saying which
        limit refused it and when the limits reset.
        """
        reservation = Reservation(self._day(), user, max(0, math.ceil(seconds * 1000)))
        charges = reservation.charges(self._limits)
        refused = await self._counters.add_within(charges)
        if refused is None:
            return reservation
        reason = await self._refusal(charges[refused], reservation.ms)
        return Line(
            "No video this time: {reason}; they reset in {time}.",
            reason=reason,
            time=self._resets_in(),
        )

    async def _refusal(self, charge: Charge, ms: int) -> str:
        mine = charge.scope != EVERYONE
        if charge.name == RENDERS:
            if mine:
                return Line(
                    "your {count} avatar videos for today are used up",
                    count=self._limits.renders_per_user or 0,
                )
            return Line("today's avatar videos are all used")
        limit = charge.limit or 0
        left = (limit - await self._counters.get(charge.period, charge.scope, RENDER_MS)) // 1000
        if left <= 0:
            if mine:
                return Line(
                    "your {seconds} seconds of avatar video for today are used up",
                    seconds=limit // 1000,
                )
            return Line("today's seconds of avatar video are all used")
        needs = math.ceil(ms / 1000)
        if mine:
            return Line(
                "this answer needs about {needs} s of video and you have {left} s left today",
                needs=needs,
                left=left,
            )
        return Line(
            "this answer needs about {needs} s of video and only {left} s are left for today",
            needs=needs,
            left=left,
        )

    async def refund(self, job: AvatarJob) -> bool:
        """Give a failed render's reservation back, once however often it is asked (restarts).

        True when given back now; False when the job holds none or it was given back before.
        """
        reservation = Reservation.of(job)
        if reservation is None:
            return False
        once = Charge(reservation.day, f"job:{job.id}", "refunded", 1, limit=1)
        return await self._counters.add_within([*reservation.charges(sign=-1), once]) is None

    async def release(self, reservation: Reservation) -> None:
        """Give back a reservation no job holds (recording the job failed)."""
        await self._counters.add_within(reservation.charges(sign=-1))

    async def note(self, name: str) -> None:
        """Count an event for today's stats (errors, refusals)."""
        await self._counters.add(self._day(), EVERYONE, name)

    async def today(self) -> dict[str, int]:
        """Today's totals for `/stats`: counts, milliseconds of video and the credits they cost."""
        day = self._day()
        names = ("messages", ANSWERS, RENDERS, RENDER_MS, RENDER_CREDITS, "errors", "refusals")
        return {name: await self._counters.get(day, EVERYONE, name) for name in names}

    async def prune(self) -> None:
        """Drop counters older than yesterday."""
        yesterday = (self._clock() - dt.timedelta(days=1)).strftime("%Y-%m-%d")
        await self._counters.prune(yesterday)
