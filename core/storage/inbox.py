"""The inbox: each accepted message is written down before it is acknowledged, then answered."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import aiosqlite

from core.storage.files import write_atomically
from core.types import InboxEntry

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
# How long a replica holds the messages it recorded without renewing: one that crashed loses
# them to the next replica to start after this. It renews every third of it while it runs.
LEASE_SECONDS = 60.0
# The folder, under the media directory, of attachments waiting for their message's answer.
ATTACHMENTS = "inbox"
_ATTACHMENT_NAME = re.compile(r"[0-9a-f]{32}\.bin")


class SqliteInbox:
    """Accepted messages in SQLite; the platform key makes recording idempotent.

    SQLite serves one process at a time: a message is this process's if it recorded it, and
    every other unanswered one was left by a process that stopped.
    """

    def __init__(self, db: aiosqlite.Connection, owner: str) -> None:
        self._db, self._owner = db, owner

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
        values = ", ".join("(?, ?, ?, ?)" for _ in messages)
        params = [
            field for key, payload in messages for field in (platform, key, payload, self._owner)
        ]
        return {
            row[0]
            for row in await self._db.execute_fetchall(
                f"INSERT INTO inbox (platform, message_key, payload, lease_owner) VALUES {values}"
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

    async def claim_unanswered(self, platform: str) -> list[InboxEntry]:
        """Take the messages recorded but not answered by processes that stopped, oldest first."""
        rows = await self._db.execute_fetchall(
            "UPDATE inbox SET lease_owner = ? WHERE platform = ? AND state = 'received'"
            " AND lease_owner IS NOT ? RETURNING id, platform, message_key, payload",
            (self._owner, platform, self._owner),
        )
        entries = [InboxEntry(row[0], row[1], row[2], row[3]) for row in rows]
        return sorted(entries, key=lambda entry: entry.id)

    async def renew(self) -> None:
        """Nothing to renew: no other process shares the file."""

    async def release(self) -> None:
        """Nothing to release: the next start takes over what is left."""

    async def last_key(self, platform: str) -> str | None:
        """Return the newest recorded key (Telegram resumes its update offset from it)."""
        sql = "SELECT message_key FROM inbox WHERE platform = ? ORDER BY id DESC LIMIT 1"
        async with self._db.execute(sql, (platform,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])


class InboxAttachments:
    """Bytes too large for a payload (a voice message), in a file until the answer is given.

    They never go into the database: a 25 MB recording would grow to 34 MB of base64 in a row,
    copied several times on the way in. The file is written before its message is recorded, so
    a recorded message finds it again after a restart; it is deleted once the message is
    answered (the retention task deletes any left behind).
    """

    def __init__(self, media_dir: Path) -> None:
        self._folder = media_dir / ATTACHMENTS

    @staticmethod
    def name(platform: str, message_key: str) -> str:
        """Name the file of a message's attachment (no id of the conversation in it)."""
        return hashlib.sha256(f"{platform}/{message_key}".encode()).hexdigest()[:32] + ".bin"

    async def put(self, platform: str, message_key: str, data: bytes) -> str:
        """Write the attachment down (atomically); return its name for the payload."""
        name = self.name(platform, message_key)
        await asyncio.to_thread(partial(write_atomically, durable=True), self._folder / name, data)
        return name

    async def get(self, name: str) -> bytes | None:
        """Read the attachment's bytes; None when it is gone."""
        if self.name_is_ours(name):
            try:
                return await asyncio.to_thread((self._folder / name).read_bytes)
            except FileNotFoundError:
                pass
        return None

    async def drop(self, name: str) -> None:
        """Delete the attachment (its message is answered)."""
        if self.name_is_ours(name):
            await asyncio.to_thread((self._folder / name).unlink, missing_ok=True)

    @staticmethod
    def name_is_ours(name: str) -> bool:
        """Whether `name` is one `name()` makes (never a path)."""
        return _ATTACHMENT_NAME.fullmatch(name) is not None
