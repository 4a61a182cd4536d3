"""PostgreSQL (asyncpg) implementations of the stores, the inbox and the counters.

Each class has exactly the methods of its SQLite twin (core/storage/sqlite_stores.py,
core/storage/inbox.py, core/quota.py) and returns the same values; migrations come from
migrations/postgres/, numbered like the SQLite ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from core.quota import Charge, Reservation
from core.storage.sqlite import migration_files
from core.storage.sqlite_stores import (
    JOB_COLUMNS,
    JOB_FIELDS,
    job_from_row,
    key_params,
    reservation_params,
)
from core.types import AvatarJob, ChatMessage, ConversationKey, InboxEntry, JobState

log = logging.getLogger(__name__)

# Replicas starting together take turns applying migrations (any fixed 64-bit key works).
_MIGRATION_LOCK = 0x61766174_6172626F
_KEY = "platform = $1 AND chat_id = $2 AND thread_id = $3"


async def connect_pool(url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """Open a connection pool to the database at `url` (postgresql://user:pass@host:port/db)."""
    return await asyncpg.create_pool(url, min_size=1, max_size=max_size)


async def migrate(pool: asyncpg.Pool, folder: Path) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
            done: list[str] = []
            for version, path in migration_files(folder):
                if version in applied:
                    continue
                script = await asyncio.to_thread(path.read_text, encoding="utf-8")
                async with conn.transaction():
                    # Without arguments asyncpg sends the simple protocol: many statements at once.
                    await conn.execute(script)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        path.name,
                    )
                log.info("applied migration %s", path.name)
                done.append(path.name)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


class PostgresHistoryStore:
    """Conversation history, one row per message."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def recent(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        """Return the last `limit` messages of the conversation, oldest first."""
        if limit <= 0:
            return []
        sql = f"SELECT role, content FROM messages WHERE {_KEY} ORDER BY id DESC LIMIT $4"
        rows = await self._pool.fetch(sql, *key_params(key), limit)
        return [ChatMessage(row[0], row[1]) for row in reversed(rows)]

    async def append(self, key: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        """Store messages in one statement, so a turn and its answer land together."""
        if not messages:
            return
        # Ids are drawn in the ORDER BY order, so the messages keep theirs.
        await self._pool.execute(
            "INSERT INTO messages (platform, chat_id, thread_id, role, content)"
            " SELECT $1, $2, $3, role, content"
            " FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS m(role, content, n)"
            " ORDER BY n",
            *key_params(key),
            [message.role for message in messages],
            [message.content for message in messages],
        )

    async def clear(self, key: ConversationKey) -> None:
        """Forget one conversation."""
        await self._pool.execute(f"DELETE FROM messages WHERE {_KEY}", *key_params(key))


class PostgresJobStore:
    """Durable avatar jobs: written before the renderer is called, updated at each step."""

    def __init__(self, pool: asyncpg.Pool, owner: str, lease: float) -> None:
        # Replicas tell their jobs apart by `owner`; one that stops renewing (it crashed)
        # loses them to another after `lease` seconds.
        self._pool, self._owner, self._lease = pool, owner, lease

    async def create(
        self,
        key: ConversationKey,
        text: str,
        target: str,
        reservation: Reservation | None = None,
        *,
        voice_id: str | None = None,
        truncated: bool = False,
        source_url: str | None = None,
    ) -> AvatarJob:
        """Record a queued job and its reservation, leased to this replica: others leave it."""
        row = await self._pool.fetchrow(
            "INSERT INTO avatar_jobs (platform, chat_id, thread_id, text, target, state,"
            " lease_owner, lease_until, reserved_day, reserved_scope, reserved_ms, voice_id,"
            " truncated, source_url) VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " now() + make_interval(secs => $8), $9, $10, $11, $12, $13, $14)"
            f" RETURNING {JOB_COLUMNS}",
            *key_params(key),
            text,
            target,
            JobState.QUEUED.value,
            self._owner,
            self._lease,
            *reservation_params(reservation),
            voice_id,
            truncated,
            source_url,
        )
        assert row is not None
        return job_from_row(row)

    async def update(self, job: AvatarJob, state: JobState, **fields: str | None) -> AvatarJob:
        """Move a job to `state` with the given fields, and return the stored job."""
        unknown = set(fields) - JOB_FIELDS
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        assignments = "".join(f", {name} = ${n}" for n, name in enumerate(fields, start=3))
        row = await self._pool.fetchrow(
            f"UPDATE avatar_jobs SET state = $2, updated_at = now(){assignments}"
            f" WHERE id = $1 RETURNING {JOB_COLUMNS}",
            job.id,
            state.value,
            *fields.values(),
        )
        if row is None:
            raise LookupError(f"avatar job {job.id} is gone")
        return job_from_row(row)

    async def unfinished(self) -> list[AvatarJob]:
        """Jobs that are neither delivered nor failed, oldest first."""
        rows = await self._pool.fetch(
            f"SELECT {JOB_COLUMNS} FROM avatar_jobs"
            " WHERE state NOT IN ('delivered', 'failed') ORDER BY id"
        )
        return [job_from_row(row) for row in rows]

    async def claim(self) -> list[AvatarJob]:
        """Take unfinished jobs whose lease is free or expired; replicas skip each other's rows."""
        rows = await self._pool.fetch(
            "UPDATE avatar_jobs"
            " SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)"
            " WHERE id IN (SELECT id FROM avatar_jobs WHERE state NOT IN ('delivered', 'failed')"
            " AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $1)"
            " ORDER BY id FOR UPDATE SKIP LOCKED)"
            f" RETURNING {JOB_COLUMNS}",
            self._owner,
            self._lease,
        )
        return sorted((job_from_row(row) for row in rows), key=lambda job: job.id)

    async def renew(self) -> None:
        """Extend this replica's leases on unfinished jobs."""
        await self._pool.execute(
            "UPDATE avatar_jobs SET lease_until = now() + make_interval(secs => $2)"
            " WHERE lease_owner = $1 AND state NOT IN ('delivered', 'failed')",
            self._owner,
            self._lease,
        )

    async def release(self) -> None:
        """Give up this replica's leases."""
        await self._pool.execute(
            "UPDATE avatar_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            self._owner,
        )


class PostgresInbox:
    """Accepted messages in PostgreSQL; the platform key makes recording idempotent.

    Replicas share it: the one that records a message holds a lease on it, renewed while it
    runs, and others take over only the messages whose lease is free or has lapsed.
    """

    def __init__(self, pool: asyncpg.Pool, owner: str, lease: float) -> None:
        self._pool, self._owner, self._lease = pool, owner, lease

    async def record(self, platform: str, message_key: str, payload: str) -> bool:
        """Write a message down; False when it was already recorded (a redelivery)."""
        return message_key in await self.record_many(platform, [(message_key, payload)])

    async def record_many(self, platform: str, messages: Sequence[tuple[str, str]]) -> set[str]:
        """Write (key, payload) pairs down in one statement; return the keys new to the inbox."""
        if not messages:
            return set()
        rows = await self._pool.fetch(
            "INSERT INTO inbox (platform, message_key, payload, lease_owner, lease_until)"
            " SELECT $1, key, payload, $4, now() + make_interval(secs => $5)"
            " FROM unnest($2::text[], $3::text[]) AS m(key, payload)"
            " ON CONFLICT (platform, message_key) DO NOTHING RETURNING message_key",
            platform,
            [key for key, _ in messages],
            [payload for _, payload in messages],
            self._owner,
            self._lease,
        )
        return {row["message_key"] for row in rows}

    async def answered(self, platform: str, message_key: str) -> None:
        """Mark a message answered (or deliberately ignored): it is not replayed."""
        await self._pool.execute(
            "UPDATE inbox SET state = 'answered', answered_at = now()"
            " WHERE platform = $1 AND message_key = $2 AND state = 'received'",
            platform,
            message_key,
        )

    async def is_answered(self, platform: str, message_key: str) -> bool:
        """Whether the message was answered already (so a replay must not answer it again)."""
        state: str | None = await self._pool.fetchval(
            "SELECT state FROM inbox WHERE platform = $1 AND message_key = $2",
            platform,
            message_key,
        )
        return state == "answered"

    async def claim_unanswered(self, platform: str) -> list[InboxEntry]:
        """Take the unanswered messages no live replica holds, oldest first."""
        rows = await self._pool.fetch(
            "UPDATE inbox"
            " SET lease_owner = $2, lease_until = now() + make_interval(secs => $3)"
            " WHERE id IN (SELECT id FROM inbox WHERE platform = $1 AND state = 'received'"
            " AND lease_owner IS DISTINCT FROM $2"
            " AND (lease_until IS NULL OR lease_until < now())"
            " ORDER BY id FOR UPDATE SKIP LOCKED)"
            " RETURNING id, platform, message_key, payload",
            platform,
            self._owner,
            self._lease,
        )
        entries = [InboxEntry(row[0], row[1], row[2], row[3]) for row in rows]
        return sorted(entries, key=lambda entry: entry.id)

    async def renew(self) -> None:
        """Extend this replica's leases on the messages it has not answered yet."""
        await self._pool.execute(
            "UPDATE inbox SET lease_until = now() + make_interval(secs => $2)"
            " WHERE lease_owner = $1 AND state = 'received'",
            self._owner,
            self._lease,
        )

    async def release(self) -> None:
        """Give up this replica's leases (it stopped): another replica may take them at once."""
        await self._pool.execute(
            "UPDATE inbox SET lease_until = NULL WHERE lease_owner = $1 AND state = 'received'",
            self._owner,
        )

    async def last_key(self, platform: str) -> str | None:
        """Return the newest recorded key (Telegram resumes its update offset from it)."""
        key = await self._pool.fetchval(
            "SELECT message_key FROM inbox WHERE platform = $1 ORDER BY id DESC LIMIT 1",
            platform,
        )
        return None if key is None else str(key)


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
