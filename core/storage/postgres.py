"""PostgreSQL (asyncpg): the connection pool and the migrations runner.

The stores are in core/storage/postgres_stores.py, postgres_inbox.py and postgres_counters.py;
migrations come from migrations/postgres/, numbered like the SQLite ones.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg

from core.storage.sqlite import migration_files

log = logging.getLogger(__name__)

# Replicas starting together take turns applying migrations (any fixed 64-bit key works).
_MIGRATION_LOCK = 0x61766174_6172626F


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
