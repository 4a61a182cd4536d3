"""The SQLite database: one connection per process, WAL mode, numbered SQL migrations."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def connect(path: Path) -> aiosqlite.Connection:
    """Open the database file (creating its folder) in WAL mode with foreign keys on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    db.row_factory = aiosqlite.Row
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("PRAGMA foreign_keys=ON")
    await db.execute("PRAGMA busy_timeout=5000")
    return db


def migration_files(folder: Path) -> list[tuple[int, Path]]:
    """Numbered migration files in order; a file that breaks the naming rule is an error."""
    found: list[tuple[int, Path]] = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} must be named NNNN_name.sql")
        found.append((int(match.group(1)), path))
    versions = [version for version, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations in {folder} share a number")
    return found


async def migrate(db: aiosqlite.Connection, folder: Path) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )
    async with db.execute("SELECT version FROM schema_migrations") as cursor:
        applied = {row[0] async for row in cursor}
    done: list[str] = []
    for version, path in migration_files(folder):
        if version in applied:
            continue
        await _apply(db, version, path)
        log.info("applied migration %s", path.name)
        done.append(path.name)
    return done


async def _apply(db: aiosqlite.Connection, version: int, path: Path) -> None:
    # executescript commits any open transaction first, so BEGIN/COMMIT go inside the script.
    script = await asyncio.to_thread(path.read_text, encoding="utf-8")
    record = f"INSERT INTO schema_migrations (version, name) VALUES ({version}, '{path.name}');"
    try:
        await db.executescript(f"BEGIN;\n{script}\n{record}\nCOMMIT;")
    except Exception:
        if db.in_transaction:
            await db.rollback()
        raise
