"""SQLite implementations of the history and job stores (preferences: preferences.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import aiosqlite

from core.storage.batching import Coalescer
from core.types import AvatarJob, ChatMessage, ConversationKey, JobState, ScriptKind

if TYPE_CHECKING:
    from core.limits import Reservation

_KEY = "platform = ? AND chat_id = ? AND thread_id = ?"
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
# History reads or writes merged into one statement at most (SQLite allows 500 terms in a
# UNION ALL, and 32,766 parameters: 5 per message, 2 messages per turn).
MAX_BATCH = 200


def key_params(key: ConversationKey) -> tuple[str, str, str]:
    """Return the conversation key as the three columns every table stores it in."""
    return (key.platform, key.chat_id, key.thread_id)


class SqliteHistoryStore:
    """Conversation history, one row per message; calls made at once share one statement."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._read = Coalescer(self._read_all, name="sqlite-history-reads", max_batch=MAX_BATCH)
        self._write = Coalescer(self._append_all, name="sqlite-history-writes", max_batch=MAX_BATCH)

    async def recent(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        """Return the last `limit` messages of the conversation, oldest first."""
        if limit <= 0:
            return []
        return await self._read((key, limit))

    async def _read_all(self, reads: list[tuple[ConversationKey, int]]) -> list[list[ChatMessage]]:
        """Read the last messages of each conversation (each by its index) in one statement."""
        one = (
            f"SELECT * FROM (SELECT ? AS n, id, role, content FROM messages WHERE {_KEY}"
            " ORDER BY id DESC LIMIT ?)"
        )
        sql = " UNION ALL ".join([one] * len(reads))
        params = [p for n, (key, limit) in enumerate(reads) for p in (n, *key_params(key), limit)]
        # execute_fetchall: one round trip; iterating an aiosqlite cursor costs one per row.
        found: list[list[tuple[int, ChatMessage]]] = [[] for _ in reads]
        for row in await self._db.execute_fetchall(sql, params):
            found[row[0]].append((row[1], ChatMessage(row[2], row[3])))
        return [[message for _, message in sorted(rows)] for rows in found]

    async def append(self, key: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        """Store messages in one statement, so a turn and its answer land together."""
        if messages:
            await self._write((key, messages))

    async def _append_all(
        self, writes: list[tuple[ConversationKey, Sequence[ChatMessage]]]
    ) -> list[None]:
        """Store the turns of many conversations in one statement, in the order they came."""
        rows = [(*key_params(key), m.role, m.content) for key, messages in writes for m in messages]
        values = ", ".join("(?, ?, ?, ?, ?)" for _ in rows)
        await self._db.execute(
            f"INSERT INTO messages (platform, chat_id, thread_id, role, content) VALUES {values}",
            [field for row in rows for field in row],
        )
        return [None] * len(writes)

    async def clear(self, key: ConversationKey) -> None:
        """Forget one conversation."""
        await self._db.execute(f"DELETE FROM messages WHERE {_KEY}", key_params(key))


class Row(Protocol):
    """A database row read by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


# Shared by the SQLite and PostgreSQL job stores: the columns read and the fields a step may set.
JOB_COLUMNS = (
    "id, platform, chat_id, thread_id, text, target, state, talk_id, video_path, error,"
    " reserved_day, reserved_scope, reserved_ms, voice_id, truncated, source_url,"
    " script_kind"
)
JOB_FIELDS = frozenset({"talk_id", "video_path", "error", "source_url"})


def job_from_row(row: Row) -> AvatarJob:
    """Build an AvatarJob from a database row of JOB_COLUMNS."""
    return AvatarJob(
        id=row["id"],
        key=ConversationKey(row["platform"], row["chat_id"], row["thread_id"]),
        text=row["text"],
        target=row["target"],
        state=JobState(row["state"]),
        talk_id=row["talk_id"],
        video_path=row["video_path"],
        error=row["error"],
        reserved_day=row["reserved_day"],
        reserved_scope=row["reserved_scope"],
        reserved_ms=int(row["reserved_ms"]),
        voice_id=row["voice_id"],
        truncated=bool(row["truncated"]),
        source_url=row["source_url"],
        script_kind=script_kind(row["script_kind"]),
    )


def script_kind(value: Any) -> ScriptKind:
    """Return a stored script kind as its type (the table's CHECK keeps out anything else)."""
    return "summary" if value == "summary" else "start"


def reservation_params(reservation: Reservation | None) -> tuple[str | None, str | None, int]:
    """Return the reservation as the three job columns that keep it (none: NULL, NULL, 0)."""
    if reservation is None:
        return (None, None, 0)
    return (reservation.day, reservation.scope, reservation.ms)


class SqliteJobStore:
    """Durable avatar jobs: written before the renderer is called, updated at each step."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

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
        """Record a queued job and its reservation ; one process owns every SQLite job."""
        sql = (
            "INSERT INTO avatar_jobs (platform, chat_id, thread_id, text, target, state,"
            " reserved_day, reserved_scope, reserved_ms, voice_id, truncated, source_url,"
            f" script_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {JOB_COLUMNS}"
        )
        params = (
            *key_params(key),
            text,
            target,
            JobState.QUEUED.value,
            *reservation_params(reservation),
            voice_id,
            int(truncated),
            source_url,
            script_kind,
        )
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return job_from_row(row)

    async def update(self, job: AvatarJob, state: JobState, **fields: str | None) -> AvatarJob:
        """Move a job to `state` with the given fields, and return the stored job."""
        unknown = set(fields) - JOB_FIELDS
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        assignments = "".join(f", {name} = ?" for name in fields)
        sql = (
            f"UPDATE avatar_jobs SET state = ?, updated_at = {_NOW}{assignments}"
            f" WHERE id = ? RETURNING {JOB_COLUMNS}"
        )
        async with self._db.execute(sql, (state.value, *fields.values(), job.id)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise LookupError(f"avatar job {job.id} is gone")
        return job_from_row(row)

    async def start_submit(self, job: AvatarJob) -> AvatarJob | None:
        """Mark a queued job submitted with no talk id yet; None when it is queued no more."""
        sql = (
            f"UPDATE avatar_jobs SET state = 'submitted', talk_id = NULL, updated_at = {_NOW}"
            f" WHERE id = ? AND state = 'queued' RETURNING {JOB_COLUMNS}"
        )
        async with self._db.execute(sql, (job.id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else job_from_row(row)

    async def unfinished(self) -> list[AvatarJob]:
        """Jobs that are neither delivered nor failed, oldest first."""
        sql = (
            f"SELECT {JOB_COLUMNS} FROM avatar_jobs"
            " WHERE state NOT IN ('delivered', 'failed') ORDER BY id"
        )
        async with self._db.execute(sql) as cursor:
            return [job_from_row(row) async for row in cursor]

    async def claim(self) -> list[AvatarJob]:
        """SQLite serves one process, which owns every unfinished job."""
        return await self.unfinished()

    async def renew(self) -> None:
        """Nothing to renew: one process owns every job."""

    async def release(self) -> None:
        """Nothing to release: one process owns every job."""
