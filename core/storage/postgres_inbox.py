"""PostgreSQL (asyncpg) twin of the SQLite inbox (core/storage/inbox.py), leased per replica."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from core.types import InboxEntry


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
