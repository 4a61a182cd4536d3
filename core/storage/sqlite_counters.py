"""SQLite counters (the `Counters` port): usage per period and scope, added within limits.

Concurrent additions share one statement; an addition within limits is one statement that checks
and writes at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from core.limits import Charge
from core.storage.batching import Coalescer

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
