"""PostgreSQL (asyncpg) twin of sqlite_counters.py: usage per period and scope."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import asyncpg

from core.limits import Charge

_UPSERT_COUNTS = (
    "INSERT INTO counters (period, scope, name, count)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
    " ON CONFLICT (period, scope, name) DO UPDATE SET count = counters.count + excluded.count"
    " RETURNING period, scope, name, count"
)


# Adds to one counter unless it would pass the limit ($5, NULL: none); RETURNING no row: refused.
# The limit is checked against the row as locked, after any concurrent transaction committed.
_ADD_WITHIN = (
    "INSERT INTO counters (period, scope, name, count)"
    " SELECT $1, $2, $3, greatest($4::bigint, 0)"
    " WHERE $5::bigint IS NULL OR $4::bigint <= $5::bigint"
    " ON CONFLICT (period, scope, name) DO UPDATE"
    " SET count = greatest(counters.count + $4::bigint, 0)"
    " WHERE $5::bigint IS NULL OR counters.count + $4::bigint <= $5::bigint"
    " RETURNING count"
)


class _Refused(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _key(charge: Charge) -> tuple[str, str, str]:
    return (charge.period, charge.scope, charge.name)


class PostgresCounters:
    """Named counters per period and scope."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, period: str, scope: str, name: str, amount: int = 1) -> int:
        """Add `amount` and return the new count."""
        row = await self._pool.fetchrow(_UPSERT_COUNTS, [period], [scope], [name], [amount])
        assert row is not None
        return int(row["count"])

    async def add_many(self, rows: list[tuple[str, str, str]]) -> list[int]:
        """Add one to each (period, scope, name) in one statement; return the new counts."""
        # One statement may not update a row twice, so a repeated counter is added up first.
        amounts = Counter(rows)
        keys = list(amounts)
        records = await self._pool.fetch(
            _UPSERT_COUNTS,
            [key[0] for key in keys],
            [key[1] for key in keys],
            [key[2] for key in keys],
            [amounts[key] for key in keys],
        )
        counted = {(r["period"], r["scope"], r["name"]): int(r["count"]) for r in records}
        return [counted[row] for row in rows]

    async def add_within(self, charges: Sequence[Charge]) -> int | None:
        """Add every charge, or none when one would pass its limit; None, or the refused index.

        One transaction: each counter's upsert checks its limit against the row it locks, so
        replicas (and calls at once) cannot both pass. Counters are locked in key order, the
        same for every call, so two calls never wait on each other in a circle.
        """
        if len({(c.period, c.scope, c.name) for c in charges}) != len(charges):
            raise ValueError("each counter may be charged once per call")
        order = sorted(range(len(charges)), key=lambda n: _key(charges[n]))
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    for n in order:
                        c = charges[n]
                        args = (c.period, c.scope, c.name, c.amount, c.limit)
                        if await conn.fetchval(_ADD_WITHIN, *args) is None:
                            raise _Refused(n)  # rolls back what the others added
            except _Refused as refused:
                return refused.index
        return None

    async def get(self, period: str, scope: str, name: str) -> int:
        """Return the count (0 when never counted)."""
        count = await self._pool.fetchval(
            "SELECT count FROM counters WHERE period = $1 AND scope = $2 AND name = $3",
            period,
            scope,
            name,
        )
        return 0 if count is None else int(count)

    async def prune(self, before: str) -> None:
        """Forget periods that sort before `before` (minutes sort after their day)."""
        await self._pool.execute("DELETE FROM counters WHERE period < $1", before)
