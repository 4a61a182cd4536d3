"""Keys the server makes once and keeps in the database, so every process and restart agrees."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Protocol

import aiosqlite

if TYPE_CHECKING:
    import asyncpg

KEY_BYTES = 32


def new_key() -> str:
    """Make a fresh random key: 256 bits as 64 hex characters."""
    return secrets.token_hex(KEY_BYTES)


class ServerKeys(Protocol):
    """Named keys the server keeps."""

    async def get(self, name: str) -> str:
        """Return the key called `name`, made and stored on first use."""
        ...


class SqliteServerKeys:
    """Named keys in SQLite's `server_keys` table."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def get(self, name: str) -> str:
        """Return the key called `name`, made and stored on first use."""
        await self._db.execute(
            "INSERT INTO server_keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (name, new_key()),
        )
        async with self._db.execute(
            "SELECT value FROM server_keys WHERE name = ?", (name,)
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return str(row[0])


class PostgresServerKeys:
    """Named keys in PostgreSQL; replicas starting together all read the first one stored."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, name: str) -> str:
        """Return the key called `name`, made and stored on first use."""
        await self._pool.execute(
            "INSERT INTO server_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            name,
            new_key(),
        )
        value = await self._pool.fetchval("SELECT value FROM server_keys WHERE name = $1", name)
        return str(value)
