"""PostgreSQL (asyncpg) twins of the history and avatar job stores of sqlite_stores.py.

Each class has exactly the methods of its SQLite twin and returns the same values. The job
store leases its jobs to the replica that runs them (`claim`, `renew`, `release`).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from core.limits import Reservation
from core.storage.sqlite_stores import (
    JOB_COLUMNS,
    JOB_FIELDS,
    job_from_row,
    key_params,
    reservation_params,
)
from core.types import AvatarJob, ChatMessage, ConversationKey, JobState, ScriptKind

_KEY = "platform = $1 AND chat_id = $2 AND thread_id = $3"


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
        script_kind: ScriptKind = "start",
    ) -> AvatarJob:
        """Record a queued job and its reservation, leased to this replica: others leave it."""
        row = await self._pool.fetchrow(
            "INSERT INTO avatar_jobs (platform, chat_id, thread_id, text, target, state,"
            " lease_owner, lease_until, reserved_day, reserved_scope, reserved_ms, voice_id,"
            " truncated, source_url, script_kind) VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " now() + make_interval(secs => $8), $9, $10, $11, $12, $13, $14, $15)"
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
            script_kind,
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

    async def start_submit(self, job: AvatarJob) -> AvatarJob | None:
        """Mark a queued job submitted with no talk id yet, leased to this replica.

        None when it is queued no more (another replica took it after this one's lease lapsed).
        """
        row = await self._pool.fetchrow(
            "UPDATE avatar_jobs SET state = 'submitted', talk_id = NULL, updated_at = now(),"
            " lease_owner = $2, lease_until = now() + make_interval(secs => $3)"
            f" WHERE id = $1 AND state = 'queued' RETURNING {JOB_COLUMNS}",
            job.id,
            self._owner,
            self._lease,
        )
        return None if row is None else job_from_row(row)

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
