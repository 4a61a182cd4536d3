"""The inbox: each accepted message is written down before it is acknowledged, then answered."""

from __future__ import annotations

from collections.abc import Sequence
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
        return message_key in await self.record_many(platform, [(message_key, payload)])

    async def record_many(self, platform: str, messages: Sequence[tuple[str, str]]) -> set[str]:
        """Write (key, payload) pairs down in one statement; return the keys new to the inbox.

        One statement for a whole getUpdates batch (at most 100 updates, 300 parameters):
        a round trip per update would hold back the last update of a burst behind all others.
        """
        if not messages:
            return set()
        values = ", ".join("(?, ?, ?)" for _ in messages)
        params = [field for key, payload in messages for field in (platform, key, payload)]
        return {
            row[0]
            for row in await self._db.execute_fetchall(
                f"INSERT INTO inbox (platform, message_key, payload) VALUES {values}"
                " ON CONFLICT (platform, message_key) DO NOTHING RETURNING message_key",
                params,
            )
        }

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
