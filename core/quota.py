"""Quotas on paid renders and message rates, counted in SQLite so a restart resets nothing."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

from core.batching import Coalescer
from core.ports import Counters

Clock = Callable[[], dt.datetime]
EVERYONE = "*"


def utc_now() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """Renders per user and in total per UTC day, messages per user per minute; None: no limit."""

    renders_per_user: int | None = None
    renders_total: int | None = None
    messages_per_minute: int | None = None


Key = tuple[str, str, str]  # (period, scope, name)
Addition = tuple[list[Key], int]  # keys, amount added to each
# Additions merged into one statement at most (SQLite allows 32,766 parameters, 4 per key).
MAX_BATCH = 500


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

    async def get(self, period: str, scope: str, name: str) -> int:
        """Return the count (0 when never counted)."""
        sql = "SELECT count FROM counters WHERE period = ? AND scope = ? AND name = ?"
        async with self._db.execute(sql, (period, scope, name)) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def prune(self, before: str) -> None:
        """Forget periods that sort before `before` (minutes sort after their day)."""
        await self._db.execute("DELETE FROM counters WHERE period < ?", (before,))


class Quotas:
    """Admits messages and renders within the configured limits, and keeps the daily stats."""

    def __init__(self, counters: Counters, limits: Limits, clock: Clock = utc_now) -> None:
        self._counters, self._limits, self._clock = counters, limits, clock

    def _day(self) -> str:
        return self._clock().strftime("%Y-%m-%d")

    def _resets_in(self) -> str:
        now = self._clock()
        midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        hours, minutes = divmod(math.ceil((midnight - now).total_seconds() / 60), 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"

    async def admit_message(self, user: str) -> str | None:
        """Count a message; return a line for the user when they send too fast, else None."""
        day, limit = self._day(), self._limits.messages_per_minute
        if limit is None:
            await self._counters.add(day, EVERYONE, "messages")
            return None
        minute = self._clock().strftime("%Y-%m-%dT%H:%M")
        rows = [(day, EVERYONE, "messages"), (minute, user, "messages")]
        if (await self._counters.add_many(rows))[1] > limit:
            return "You're sending messages faster than I can answer — please wait a minute."
        return None

    async def admit_render(self, user: str) -> str | None:
        """Count a render; return a line saying when the quota resets, or None when admitted."""
        day, limits = self._day(), self._limits
        checks = (
            (
                user,
                limits.renders_per_user,
                f"your {limits.renders_per_user} avatar videos for today are used up",
            ),
            (EVERYONE, limits.renders_total, "today's avatar videos are all used"),
        )
        for scope, limit, used_up in checks:
            if limit is not None and await self._counters.get(day, scope, "renders") >= limit:
                return f"No video this time: {used_up}; they reset in {self._resets_in()}."
        await self._counters.add(day, user, "renders")
        await self._counters.add(day, EVERYONE, "renders")
        return None

    async def note(self, name: str) -> None:
        """Count an event for today's stats (errors, refusals)."""
        await self._counters.add(self._day(), EVERYONE, name)

    async def today(self) -> dict[str, int]:
        """Today's totals for `/stats`."""
        day = self._day()
        names = ("messages", "renders", "errors", "refusals")
        return {name: await self._counters.get(day, EVERYONE, name) for name in names}

    async def prune(self) -> None:
        """Drop counters older than yesterday."""
        yesterday = (self._clock() - dt.timedelta(days=1)).strftime("%Y-%m-%d")
        await self._counters.prune(yesterday)
