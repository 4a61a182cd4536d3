"""The retention task on each database: what it deletes, what it keeps, on a clock it is given."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path

from bot.storage import MIGRATIONS_DIR, Storage, open_storage
from bot.wiring import open_core
from core.retention import BATCH, Pruned, Retention, RetentionPolicy, utc_now
from core.storage import sqlite
from core.storage.files import partial_of
from core.storage.inbox import ATTACHMENTS, InboxAttachments
from core.types import ChatMessage, ConversationKey, JobState
from core.voice_answers import VOICE_FOLDER
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for

WEB = ConversationKey("web", "0123456789abcdef0123456789abcdef")
TG = ConversationKey("telegram", "42")
NOW = dt.datetime.now(dt.UTC)


def retention(storage: Storage, media: Path, days: float, **policy: float | None) -> Retention:
    """Retention as if `days` had passed since the test stored everything."""
    return Retention(
        storage.retention,
        media,
        RetentionPolicy(**policy),
        clock=lambda: NOW + dt.timedelta(days=days),
    )


async def seed_inbox(storage: Storage) -> None:
    inbox = storage.inbox
    for key in ("1", "2", "3"):
        await inbox.record("telegram", key, "{}")
    await inbox.record("web", "c/t1", "{}")
    await inbox.record("web", "c/t2", "{}")
    for platform, key in (("telegram", "1"), ("telegram", "3"), ("web", "c/t1"), ("web", "c/t2")):
        await inbox.answered(platform, key)


async def test_answered_messages_go_after_the_inbox_retention(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    await seed_inbox(storage)
    attachments = InboxAttachments(tmp_path)
    await attachments.put("web", "c/t1", b"left behind")
    assert await retention(storage, tmp_path, 6, inbox_days=7).run_once() == Pruned()
    pruned = await retention(storage, tmp_path, 8, inbox_days=7).run_once()
    assert pruned == Pruned(inbox=2, files=1)
    # Kept: telegram 2 (unanswered), and each platform's newest row (Telegram resumes from it).
    assert await storage.inbox.last_key("telegram") == "3"
    assert await storage.inbox.last_key("web") == "c/t2"
    await storage.inbox.release()
    after = await open_storage(database_url)  # as the next process to start would
    try:
        unanswered = await after.inbox.claim_unanswered("telegram")
    finally:
        await after.close()
    assert [entry.message_key for entry in unanswered] == ["2"]
    assert await storage.inbox.is_answered("web", "c/t2")
    assert not list((tmp_path / ATTACHMENTS).iterdir())


async def test_history_goes_only_when_a_retention_is_set(storage: Storage, tmp_path: Path) -> None:
    await storage.history.append(WEB, [ChatMessage("user", "hi"), ChatMessage("assistant", "yo")])
    assert await retention(storage, tmp_path, 400, inbox_days=None).run_once() == Pruned()
    assert len(await storage.history.recent(WEB, 10)) == 2
    assert await retention(storage, tmp_path, 29, history_days=30).run_once() == Pruned()
    assert await retention(storage, tmp_path, 31, history_days=30).run_once() == Pruned(history=2)
    assert await storage.history.recent(WEB, 10) == []


async def test_media_of_delivered_and_failed_jobs_only(storage: Storage, tmp_path: Path) -> None:
    media = tmp_path / "media"
    jobs = [await storage.jobs.create(key, "text", "") for key in (WEB, TG, TG)]
    delivered, failed, queued = jobs
    await storage.jobs.update(delivered, JobState.DELIVERED)
    await storage.jobs.update(failed, JobState.FAILED, error="no face")
    mailbox = media / "web" / WEB.chat_id
    mailbox.mkdir(parents=True)
    files = [media / f"avatar-{job.id}.mp4" for job in jobs]
    files += [mailbox / f"{delivered.id}.mp4", mailbox / f"{delivered.id}.json"]
    files += [mailbox / f"{failed.id}.json", media / "avatar-999.mp4", media / "notes.txt"]
    for path in files:
        path.write_bytes(b"x")
    await InboxAttachments(media).put("web", "c/t9", b"waiting")  # not a job's file
    policy = {"inbox_days": None, "media_days": 3}
    assert await retention(storage, media, 2, **policy).run_once() == Pruned()
    assert await retention(storage, media, 4, **policy).run_once() == Pruned(files=5)
    left = sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())
    waiting = f"{ATTACHMENTS}/{InboxAttachments.name('web', 'c/t9')}"
    assert left == sorted([f"avatar-{queued.id}.mp4", "avatar-999.mp4", "notes.txt", waiting])
    assert not mailbox.exists()  # the conversation's emptied folder goes too
    assert media.is_dir()


async def test_a_video_half_written_by_a_crash_goes_with_its_failed_job(
    storage: Storage, tmp_path: Path
) -> None:
    job = await storage.jobs.create(TG, "text", "")
    await storage.jobs.update(job, JobState.FAILED, error="gone")
    media = tmp_path / "media"
    media.mkdir()
    partial_of(media / f"avatar-{job.id}.mp4").write_bytes(b"half")  # a write a crash cut
    policy = {"inbox_days": None, "media_days": 3}
    assert await retention(storage, media, 4, **policy).run_once() == Pruned(files=1)
    assert list(media.iterdir()) == []


async def test_the_task_is_named_started_with_the_core_and_cancelled_with_it(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = settings_for(tmp_path, groq, None, INBOX_RETENTION_DAYS=1)
    async with open_core(settings):
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "retention"]
    assert task.cancelled() or task.done()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "retention"]


async def test_the_migration_drops_audio_the_answered_web_rows_held(tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0006":
            shutil.copy(path, before / path.name)
    db = await sqlite.connect(tmp_path / "old.db")
    try:
        await sqlite.migrate(db, before)
        rows = [("c/t1", "answered"), ("c/t2", "received")]
        for key, state in rows:
            payload = json.dumps({"conversation": "c", "turn": key[2:], "audio": "T2dnUw=="})
            await db.execute(
                "INSERT INTO inbox (platform, message_key, payload, state) VALUES ('web', ?, ?, ?)",
                (key, payload, state),
            )
        await sqlite.migrate(db, MIGRATIONS_DIR)
        found = await db.execute_fetchall("SELECT message_key, payload FROM inbox ORDER BY id")
    finally:
        await db.close()
    payloads = {row[0]: json.loads(row[1]) for row in found}
    assert "audio" not in payloads["c/t1"] and payloads["c/t1"]["turn"] == "t1"
    assert payloads["c/t2"]["audio"] == "T2dnUw=="  # unanswered: still to be answered


async def test_voice_answers_go_after_the_media_retention(storage: Storage, tmp_path: Path) -> None:
    voice = tmp_path / VOICE_FOLDER
    voice.mkdir()
    (voice / "abc-1.ogg").write_bytes(b"OggS")
    policy = {"inbox_days": None, "media_days": 3}
    assert await retention(storage, tmp_path, 2, **policy).run_once() == Pruned()
    assert await retention(storage, tmp_path, 2, inbox_days=None).run_once() == Pruned()
    assert await retention(storage, tmp_path, 400, inbox_days=None).run_once() == Pruned()
    assert (voice / "abc-1.ogg").exists()  # kept while no media retention is set
    assert await retention(storage, tmp_path, 4, **policy).run_once() == Pruned(files=1)
    assert list(voice.iterdir()) == []


async def test_a_file_in_the_attachments_folder_is_never_taken_for_a_jobs(
    storage: Storage, tmp_path: Path
) -> None:
    job = await storage.jobs.create(TG, "text", "")
    await storage.jobs.update(job, JobState.DELIVERED)
    stray = tmp_path / ATTACHMENTS / f"avatar-{job.id}.mp4"
    stray.parent.mkdir()
    stray.write_bytes(b"x")
    (tmp_path / f"avatar-{job.id}.mp4").write_bytes(b"x")
    pruned = await retention(storage, tmp_path, 4, inbox_days=None, media_days=3).run_once()
    assert pruned == Pruned(files=1)
    assert stray.exists()  # an attachment goes only after the inbox retention


async def test_history_is_deleted_in_batches_until_none_is_left(
    storage: Storage, tmp_path: Path
) -> None:
    many = BATCH + 2
    await storage.history.append(WEB, [ChatMessage("user", f"m{n}") for n in range(many)])
    pruned = await retention(storage, tmp_path, 31, inbox_days=None, history_days=30).run_once()
    assert pruned == Pruned(history=many)
    assert await storage.history.recent(WEB, 10) == []


def test_the_clock_tells_utc() -> None:
    now = utc_now()
    assert now.tzinfo is dt.UTC
    assert abs(now.timestamp() - dt.datetime.now().timestamp()) < 60


async def test_the_media_folder_stays_when_its_last_file_goes(
    storage: Storage, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    job = await storage.jobs.create(TG, "text", "")
    await storage.jobs.update(job, JobState.DELIVERED)
    (media / f"avatar-{job.id}.mp4").write_bytes(b"x")
    pruned = await retention(storage, media, 4, inbox_days=None, media_days=3).run_once()
    assert pruned == Pruned(files=1)
    assert media.is_dir() and not list(media.iterdir())


async def test_each_run_forgets_counters_older_than_yesterday(storage: Storage) -> None:
    # The per-minute message counts add a row per user and minute: pruned only when the bot
    # started, a bot running for months kept every one of them.
    counters = storage.counters
    later = NOW + dt.timedelta(days=3)
    old_minute = NOW.strftime("%Y-%m-%dT%H:%M")
    await counters.add(old_minute, "web:ip-a", "messages")
    await counters.add(NOW.strftime("%Y-%m-%d"), "*", "messages")
    today = later.strftime("%Y-%m-%d")
    await counters.add(today, "*", "messages")
    task = Retention(
        storage.retention, Path("unused"), RetentionPolicy(), clock=lambda: later, counters=counters
    )
    await task.run_once()
    assert await counters.get(old_minute, "web:ip-a", "messages") == 0
    assert await counters.get(NOW.strftime("%Y-%m-%d"), "*", "messages") == 0
    assert await counters.get(today, "*", "messages") == 1
