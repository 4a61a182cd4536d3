"""Migrations on a real SQLite file and a real PostgreSQL database (stores: test_stores.py)."""

import asyncio
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from bot.storage import MIGRATIONS_DIR, POSTGRES_MIGRATIONS_DIR
from core.storage import postgres, sqlite

ALL = [
    "0001_initial.sql",
    "0002_reliability.sql",
    "0003_job_leases.sql",
    "0004_inbox_leases.sql",
    "0005_render_budgets.sql",
    "0006_web_keys_and_retention.sql",
    "0007_avatar_speech.sql",
    "0008_chat_preferences.sql",
    "0009_chat_faces.sql",
    "0010_script_kind.sql",
]


async def open_db(path: Path) -> aiosqlite.Connection:
    """A migrated database; the caller (a fixture) closes it."""
    db = await sqlite.connect(path)
    try:
        await sqlite.migrate(db, MIGRATIONS_DIR)
    except BaseException:
        await db.close()
        raise
    return db


async def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    db = await sqlite.connect(tmp_path / "a.db")
    try:
        first = await sqlite.migrate(db, MIGRATIONS_DIR)
        again = await sqlite.migrate(db, MIGRATIONS_DIR)
        async with db.execute("SELECT version, name FROM schema_migrations") as cursor:
            rows = [tuple(row) async for row in cursor]
        async with db.execute("PRAGMA journal_mode") as cursor:
            mode = await cursor.fetchone()
    finally:
        await db.close()
    assert first == ALL
    assert again == []
    assert rows == [(int(name[:4]), name) for name in ALL]
    assert mode is not None and mode[0] == "wal"


async def test_a_failing_migration_rolls_back_alone(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.sql").write_text("CREATE TABLE one (x INTEGER);")
    (folder / "0002_two.sql").write_text(
        "CREATE TABLE two (x INTEGER);\nINSERT INTO nope VALUES (1);"
    )
    db = await sqlite.connect(tmp_path / "b.db")
    try:
        with pytest.raises(aiosqlite.OperationalError):
            await sqlite.migrate(db, folder)
        async with db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
            tables = {row[0] async for row in cursor}
        async with db.execute("SELECT version FROM schema_migrations") as cursor:
            versions = [row[0] async for row in cursor]
    finally:
        await db.close()
    assert "one" in tables and "two" not in tables
    assert versions == [1]


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("")
    with pytest.raises(ValueError, match="NNNN_name.sql"):
        sqlite.migration_files(tmp_path)


def test_both_dialects_have_the_same_migrations() -> None:
    lite = [path.name for _, path in sqlite.migration_files(MIGRATIONS_DIR)]
    pg = [path.name for _, path in sqlite.migration_files(POSTGRES_MIGRATIONS_DIR)]
    assert lite == pg


async def test_postgres_migrations_apply_once_even_from_two_replicas(postgres_url: str) -> None:
    pools: list[asyncpg.Pool] = []
    try:
        for _ in range(2):
            pools.append(await postgres.connect_pool(postgres_url))
        results = await asyncio.gather(
            *(postgres.migrate(pool, POSTGRES_MIGRATIONS_DIR) for pool in pools)
        )
        rows = await pools[0].fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
    finally:
        for pool in pools:
            await pool.close()
    assert sorted(results) == [
        [],
        ALL,
    ]
    assert [tuple(row) for row in rows] == [(int(name[:4]), name) for name in ALL]


async def test_a_failing_postgres_migration_rolls_back_alone(
    postgres_url: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x INTEGER);")
    (tmp_path / "0002_two.sql").write_text(
        "CREATE TABLE two (x INTEGER);\nINSERT INTO nope VALUES (1);"
    )
    pool = await postgres.connect_pool(postgres_url)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await postgres.migrate(pool, tmp_path)
        tables = {
            row[0]
            for row in await pool.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        versions = [row[0] for row in await pool.fetch("SELECT version FROM schema_migrations")]
    finally:
        await pool.close()
    assert "one" in tables and "two" not in tables
    assert versions == [1]


async def test_the_database_folder_is_made_and_the_connection_set_up(tmp_path: Path) -> None:
    db = await sqlite.connect(tmp_path / "data" / "nested" / "bot.db")
    try:
        settings = []
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            (row,) = await db.execute_fetchall(f"PRAGMA {name}")
            settings.append(row[0])
        assert settings == ["wal", 1, 1, 5000]
        await db.execute("CREATE TABLE t (x INTEGER)")
        await db.execute("INSERT INTO t VALUES (1)")
        assert not db.in_transaction  # autocommit: each statement is its own
        (row,) = await db.execute_fetchall("SELECT x FROM t")
        assert row["x"] == 1  # rows read by column name
    finally:
        await db.close()


def test_two_migrations_with_one_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_one.sql").write_text("")
    (tmp_path / "0001_other.sql").write_text("")
    with pytest.raises(ValueError, match="two migrations in .* share a number"):
        sqlite.migration_files(tmp_path)
    (tmp_path / "0001_other.sql").unlink()
    (tmp_path / "0002_two.sql").write_text("")
    assert [(n, p.name) for n, p in sqlite.migration_files(tmp_path)] == [
        (1, "0001_one.sql"),
        (2, "0002_two.sql"),
    ]


async def test_jobs_stored_before_script_kinds_said_the_start(tmp_path: Path) -> None:
    older = tmp_path / "older"
    older.mkdir()
    for name in ALL[:-1]:
        (older / name).write_text((MIGRATIONS_DIR / name).read_text())
    db = await sqlite.connect(tmp_path / "c.db")
    try:
        await sqlite.migrate(db, older)
        await db.execute(
            "INSERT INTO avatar_jobs (platform, chat_id, thread_id, text, target, state, truncated)"
            " VALUES ('telegram', '1', '', 'Hi', '', 'queued', 1)"
        )
        await db.commit()
        assert await sqlite.migrate(db, MIGRATIONS_DIR) == ["0010_script_kind.sql"]
        async with db.execute("SELECT script_kind FROM avatar_jobs") as cursor:
            kinds = [row[0] async for row in cursor]
        with pytest.raises(aiosqlite.IntegrityError):
            await db.execute("UPDATE avatar_jobs SET script_kind = 'whole'")
    finally:
        await db.close()
    assert kinds == ["start"]


async def test_postgres_jobs_stored_before_script_kinds_said_the_start(
    postgres_url: str, tmp_path: Path
) -> None:
    for name in ALL[:-1]:
        (tmp_path / name).write_text((POSTGRES_MIGRATIONS_DIR / name).read_text())
    pool = await postgres.connect_pool(postgres_url)
    try:
        await postgres.migrate(pool, tmp_path)
        await pool.execute(
            "INSERT INTO avatar_jobs (platform, chat_id, thread_id, text, target, state, truncated)"
            " VALUES ('telegram', '1', '', 'Hi', '', 'queued', true)"
        )
        assert await postgres.migrate(pool, POSTGRES_MIGRATIONS_DIR) == ["0010_script_kind.sql"]
        kinds = [row[0] for row in await pool.fetch("SELECT script_kind FROM avatar_jobs")]
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute("UPDATE avatar_jobs SET script_kind = 'whole'")
    finally:
        await pool.close()
    assert kinds == ["start"]
