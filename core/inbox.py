"""The inbox: each accepted message is written down before it is acknowledged, then answered."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A recorded message: the adapter's payload to answer it again after a restart."""

    id: int
    platform: str
    message_key: str
    payload: str


class SqliteInbox:
    """Accepted messages in SQLite; the platform key makes recording idempotent."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def record(self, platform: str, message_key: str, payload: str) -> bool:
        """Write a message down; False when it was already recorded (a redelivery)."""
        async with self._db.execute(
            "INSERT INTO inbox (platform, message_key, payload) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, message_key) DO NOTHING RETURNING id",
            (platform, message_key, payload),
        ) as cursor:
            return await cursor.fetchone() is not None

    async def answered(self, platform: str, message_key: str) -> None:
        """Mark a message answered (or deliberately ignored): it is not replayed."""
        await self._db.execute(
            f"UPDATE inbox SET state = 'answered', answered_at = {_NOW}"
            " WHERE platform = ? AND message_key = ? AND state = 'received'",
            (platform, message_key),
        )

    async def is_answered(self, platform: str, message_key: str) -> bool:
        """Whether the message was answered already (so a replay must not answer it again)."""
        sql = "SELECT state FROM inbox WHERE platform = ? AND message_key = ?"
        async with self._db.execute(sql, (platform, message_key)) as cursor:
            row = await cursor.fetchone()
        return row is not None and row[0] == "answered"

    async def unanswered(self, platform: str) -> list[InboxEntry]:
        """Messages recorded but not answered, oldest first."""
        sql = (
            "SELECT id, platform, message_key, payload FROM inbox"
            " WHERE platform = ? AND state = 'received' ORDER BY id"
        )
        async with self._db.execute(sql, (platform,)) as cursor:
            return [InboxEntry(row[0], row[1], row[2], row[3]) async for row in cursor]

    async def last_key(self, platform: str) -> str | None:
        """Return the newest recorded key (Telegram resumes its update offset from it)."""
        sql = "SELECT message_key FROM inbox WHERE platform = ? ORDER BY id DESC LIMIT 1"
        async with self._db.execute(sql, (platform,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])
