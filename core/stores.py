"""SQLite implementations of the history, preference and job stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import aiosqlite

from core.types import AvatarJob, ChatMessage, ConversationKey, JobState

_KEY = "platform = ? AND chat_id = ? AND thread_id = ?"
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def key_params(key: ConversationKey) -> tuple[str, str, str]:
    """Return the conversation key as the three columns every table stores it in."""
    return (key.platform, key.chat_id, key.thread_id)


class SqliteHistoryStore:
    """Conversation history, one row per message."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def recent(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        """Return the last `limit` messages of the conversation, oldest first."""
        if limit <= 0:
            return []
        # One round trip to the database thread: iterating an aiosqlite cursor costs one per row.
        sql = f"SELECT role, content FROM messages WHERE {_KEY} ORDER BY id DESC LIMIT ?"
        rows = await self._db.execute_fetchall(sql, (*key_params(key), limit))
        return [ChatMessage(row[0], row[1]) for row in reversed(list(rows))]

    async def append(self, key: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        """Store messages in one statement, so a turn and its answer land together."""
        if not messages:
            return
        values = ", ".join("(?, ?, ?, ?, ?)" for _ in messages)
        params: list[str] = []
        for message in messages:
            params.extend((*key_params(key), message.role, message.content))
        await self._db.execute(
            f"INSERT INTO messages (platform, chat_id, thread_id, role, content) VALUES {values}",
            params,
        )

    async def clear(self, key: ConversationKey) -> None:
        """Forget one conversation."""
        await self._db.execute(f"DELETE FROM messages WHERE {_KEY}", key_params(key))


class SqlitePreferenceStore:
    """Per-chat switches; a chat's topics share them."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def avatar_enabled(self, key: ConversationKey) -> bool | None:
        """Return the chat's avatar switch, or None when never set."""
        sql = "SELECT avatar_enabled FROM chat_preferences WHERE platform = ? AND chat_id = ?"
        async with self._db.execute(sql, (key.platform, key.chat_id)) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else bool(row[0])

    async def set_avatar_enabled(self, key: ConversationKey, enabled: bool) -> None:
        """Store the chat's avatar switch."""
        await self._db.execute(
            "INSERT INTO chat_preferences (platform, chat_id, avatar_enabled) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, chat_id) DO UPDATE SET"
            f" avatar_enabled = excluded.avatar_enabled, updated_at = {_NOW}",
            (key.platform, key.chat_id, int(enabled)),
        )


class Row(Protocol):
    """A database row read by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


# Shared by the SQLite and PostgreSQL job stores: the columns read and the fields a step may set.
JOB_COLUMNS = "id, platform, chat_id, thread_id, text, target, state, talk_id, video_path, error"
JOB_FIELDS = frozenset({"talk_id", "video_path", "error"})


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
    )


class SqliteJobStore:
    """Durable avatar jobs: written before the renderer is called, updated at each step."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def create(
        self, key: ConversationKey, text: str, target: str, owner: str = "", lease: float = 0.0
    ) -> AvatarJob:
        """Record a queued job and return it (one process owns every SQLite job: no lease)."""
        sql = (
            "INSERT INTO avatar_jobs (platform, chat_id, thread_id, text, target, state)"
            f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {JOB_COLUMNS}"
        )
        params = (*key_params(key), text, target, JobState.QUEUED.value)
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

    async def unfinished(self) -> list[AvatarJob]:
        """Jobs that are neither delivered nor failed, oldest first."""
        sql = (
            f"SELECT {JOB_COLUMNS} FROM avatar_jobs"
            " WHERE state NOT IN ('delivered', 'failed') ORDER BY id"
        )
        async with self._db.execute(sql) as cursor:
            return [job_from_row(row) async for row in cursor]

    async def claim(self, owner: str, lease: float) -> list[AvatarJob]:
        """SQLite serves one process, which owns every unfinished job."""
        return await self.unfinished()

    async def renew(self, owner: str, lease: float) -> None:
        """Nothing to renew: one process owns every job."""

    async def release(self, owner: str) -> None:
        """Nothing to release: one process owns every job."""
