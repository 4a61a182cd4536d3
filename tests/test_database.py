"""Migrations and stores on a real SQLite file."""

from pathlib import Path

import aiosqlite
import pytest

from bot.wiring import MIGRATIONS_DIR
from core import database
from core.stores import SqliteHistoryStore, SqliteJobStore, SqlitePreferenceStore
from core.types import ChatMessage, ConversationKey, JobState

KEY = ConversationKey("telegram", "42")
TOPIC = ConversationKey("telegram", "42", "7")


async def open_db(path: Path) -> aiosqlite.Connection:
    db = await database.connect(path)
    await database.migrate(db, MIGRATIONS_DIR)
    return db


async def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    db = await database.connect(tmp_path / "a.db")
    try:
        first = await database.migrate(db, MIGRATIONS_DIR)
        again = await database.migrate(db, MIGRATIONS_DIR)
        async with db.execute("SELECT version, name FROM schema_migrations") as cursor:
            rows = [tuple(row) async for row in cursor]
        async with db.execute("PRAGMA journal_mode") as cursor:
            mode = await cursor.fetchone()
    finally:
        await db.close()
    assert first == ["0001_initial.sql", "0002_reliability.sql"]
    assert again == []
    assert rows == [(1, "0001_initial.sql"), (2, "0002_reliability.sql")]
    assert mode is not None and mode[0] == "wal"


async def test_a_failing_migration_rolls_back_alone(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.sql").write_text("CREATE TABLE one (x INTEGER);")
    (folder / "0002_two.sql").write_text(
        "CREATE TABLE two (x INTEGER);\nINSERT INTO nope VALUES (1);"
    )
    db = await database.connect(tmp_path / "b.db")
    try:
        with pytest.raises(aiosqlite.OperationalError):
            await database.migrate(db, folder)
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
        database.migration_files(tmp_path)


async def test_history_window_order_topics_and_restart(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "h.db")
    history = SqliteHistoryStore(db)
    for n in range(5):
        await history.append(KEY, [ChatMessage("user", f"q{n}"), ChatMessage("assistant", f"a{n}")])
    await history.append(TOPIC, [ChatMessage("user", "topic question")])
    recent = await history.recent(KEY, 3)
    assert [m.content for m in recent] == ["a3", "q4", "a4"]
    assert [m.content for m in await history.recent(TOPIC, 10)] == ["topic question"]
    assert await history.recent(KEY, 0) == []
    await db.close()

    db = await open_db(tmp_path / "h.db")  # a restart keeps the history
    history = SqliteHistoryStore(db)
    assert len(await history.recent(KEY, 100)) == 10
    await history.clear(KEY)
    assert await history.recent(KEY, 100) == []
    assert len(await history.recent(TOPIC, 100)) == 1
    await db.close()


async def test_preferences_are_per_chat(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "p.db")
    prefs = SqlitePreferenceStore(db)
    assert await prefs.avatar_enabled(KEY) is None
    await prefs.set_avatar_enabled(KEY, False)
    assert await prefs.avatar_enabled(TOPIC) is False  # topics share the chat's switch
    await prefs.set_avatar_enabled(KEY, True)
    assert await prefs.avatar_enabled(KEY) is True
    await db.close()


async def test_jobs_move_through_states(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "j.db")
    jobs = SqliteJobStore(db)
    job = await jobs.create(TOPIC, "hello", target='{"message_id": 5}')
    assert job.state is JobState.QUEUED and job.key == TOPIC
    job = await jobs.update(job, JobState.SUBMITTED, talk_id="tlk_1")
    done = await jobs.create(KEY, "other", target="")
    await jobs.update(done, JobState.DELIVERED)
    assert [j.id for j in await jobs.unfinished()] == [job.id]
    assert (await jobs.unfinished())[0].talk_id == "tlk_1"
    with pytest.raises(ValueError):
        await jobs.update(job, JobState.FAILED, nope="x")
    await db.close()
