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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiosqlite

from core.i18n import Line
from core.ports import Counters
from core.storage.batching import Coalescer
from core.types import AvatarJob, ConversationKey

log = logging.getLogger(__name__)

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


Key = tuple[str, str, str]  # (period, scope, name)
Addition = tuple[list[Key], int]  # keys, amount added to each
# Additions merged into one statement at most (SQLite allows 32,766 parameters, 4 per key).
MAX_BATCH = 500

# One statement, so no other statement on the connection runs between its check and its writes.
# A counter never goes below zero; a new one starts at the amount (zero when it is negative).
_ADD_WITHIN = (
    "WITH charge(n, period, scope, name, amount, lim) AS (VALUES {values}),"
    " current AS (SELECT charge.*, counters.count AS old FROM charge LEFT JOIN counters"
    " ON counters.period = charge.period AND counters.scope = charge.scope"
    " AND counters.name = charge.name)"
    " INSERT INTO counters (period, scope, name, count)"
    " SELECT period, scope, name, CASE WHEN old IS NULL THEN max(amount, 0) ELSE amount END"
    " FROM current WHERE NOT EXISTS"
    " (SELECT 1 FROM current WHERE lim IS NOT NULL AND coalesce(old, 0) + amount > lim)"
    " ON CONFLICT (period, scope, name) DO UPDATE SET count = max(count + excluded.count, 0)"
    " RETURNING period"
)
_REFUSED = (
    "WITH charge(n, period, scope, name, amount, lim) AS (VALUES {values})"
    " SELECT min(n) FROM charge LEFT JOIN counters ON counters.period = charge.period"
    " AND counters.scope = charge.scope AND counters.name = charge.name"
    " WHERE lim IS NOT NULL AND coalesce(counters.count, 0) + amount > lim"
)


class SqliteCounters:
    """Named counters per period and scope; concurrent additions share one statement."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._add = Coalescer(self._add_all, name="sqlite-counters", max_batch=MAX_BATCH)

    async def add(self, period: str, scope: str, name: str, amount: int = 1) -> int:
        """Add `amount` and return the new count."""
        return (await self._add(([(period, scope, name)], amount)))[0]

    async def add_many(self, rows: list[Key]) -> list[int]:
        """Add one to each (period, scope, name); return the new counts."""
        return await self._add((rows, 1))

    async def _add_all(self, additions: list[Addition]) -> list[list[int]]:
        """One upsert for all; each caller gets the counts its own addition reached."""
        totals: dict[Key, int] = {}
        for keys, amount in additions:
            for key in keys:
                totals[key] = totals.get(key, 0) + amount
        values = ", ".join("(?, ?, ?, ?)" for _ in totals)
        params = [field for key, added in totals.items() for field in (*key, added)]
        rows = await self._db.execute_fetchall(
            f"INSERT INTO counters (period, scope, name, count) VALUES {values}"
            " ON CONFLICT (period, scope, name) DO UPDATE SET count = count + excluded.count"
            " RETURNING period, scope, name, count",
            params,
        )
        after = {(row[0], row[1], row[2]): int(row[3]) for row in rows}
        results: list[list[int]] = []
        for keys, amount in reversed(additions):  # as if they had run one after another
            results.append([after[key] for key in keys])
            for key in keys:
                after[key] -= amount
        return results[::-1]

    async def add_within(self, charges: Sequence[Charge]) -> int | None:
        """Add every charge, or none when one would pass its limit; None, or the refused index.

        Not batched: one statement per call checks and writes at once, so calls interleaving on
        the event loop cannot both pass a limit.
        """
        _check_distinct(charges)
        if not charges:
            return None
        values = ", ".join("(?, ?, ?, ?, ?, ?)" for _ in charges)
        params = [
            field
            for n, c in enumerate(charges)
            for field in (n, c.period, c.scope, c.name, c.amount, c.limit)
        ]
        for _ in range(3):
            if await self._db.execute_fetchall(_ADD_WITHIN.format(values=values), params):
                return None
            refused = await self._db.execute_fetchall(_REFUSED.format(values=values), params)
            first = next(iter(refused), None)
            if first is not None and first[0] is not None:
                return int(first[0])
            # The count fell back under its limit in between (a refund): try again.
        return next(n for n, c in enumerate(charges) if c.limit is not None)

    async def get(self, period: str, scope: str, name: str) -> int:
        """Return the count (0 when never counted)."""
        sql = "SELECT count FROM counters WHERE period = ? AND scope = ? AND name = ?"
        async with self._db.execute(sql, (period, scope, name)) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def prune(self, before: str) -> None:
        """Forget periods that sort before `before` (minutes sort after their day)."""
        await self._db.execute("DELETE FROM counters WHERE period < ?", (before,))


def _check_distinct(charges: Sequence[Charge]) -> None:
    keys = {(c.period, c.scope, c.name) for c in charges}
    if len(keys) != len(charges):
        raise ValueError("each counter may be charged once per call")


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
