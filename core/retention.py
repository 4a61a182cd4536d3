"""Retention: one hourly task deletes what is kept longer than needed.

- answered inbox messages after `inbox_days` (each platform's newest row stays: Telegram resumes
  its update offset from it), and inbox attachments (voice messages waiting for their answer)
  left behind longer than that;
- history messages after `history_days`;
- the media files of delivered or failed avatar jobs after `media_days`. Files under the media
  folder are named after their job (`avatar-<id>.mp4`, `web/<conversation>/<id>.mp4|json`), so
  a file whose job is unfinished, or unknown, is never deleted; voice answers (`voice/*.ogg`,
  sent as they are made) after `media_days` too;
- the quota counters of days before yesterday (per-minute counts add a row per user a minute),
  whatever the policy.

None keeps that kind of data forever.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosqlite

from core.ports import Counters
from core.storage.inbox import ATTACHMENTS
from core.voice_answers import VOICE_FOLDER

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
INTERVAL_SECONDS = 3600.0
# Rows deleted per statement, so that no statement holds the database for long.
BATCH = 5000
_JOB_FILE = re.compile(r"(?:avatar-)?(\d{1,18})\.(?:mp4|json)(?:\.part)?")


def utc_now() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many days each kind of data is kept; None keeps it."""

    inbox_days: float | None = 7.0
    history_days: float | None = None
    media_days: float | None = None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one run deleted."""

    inbox: int = 0
    history: int = 0
    files: int = 0


class RetentionStore(Protocol):
    """The deletions retention asks of the database."""

    async def prune_inbox(self, before: dt.datetime) -> int:
        """Delete messages answered before `before`, except each platform's newest row."""
        ...

    async def prune_history(self, before: dt.datetime) -> int:
        """Delete history messages stored before `before`."""
        ...

    async def finished_jobs(self, ids: Sequence[int], before: dt.datetime) -> set[int]:
        """Which of `ids` are delivered or failed jobs, last changed before `before`."""
        ...


def _sqlite_time(moment: dt.datetime) -> str:
    """Format a time as SQLite's tables store it (compared as text)."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_PRUNE_INBOX = (
    "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE state = 'answered'"
    " AND answered_at < {p} AND id NOT IN (SELECT max(id) FROM inbox GROUP BY platform)"
    " LIMIT {n})"
)
_PRUNE_HISTORY = (
    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE created_at < {p} LIMIT {n})"
)


class SqliteRetentionStore:
    """Retention's deletions in SQLite."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def prune_inbox(self, before: dt.datetime) -> int:
        """Delete messages answered before `before`, except each platform's newest row."""
        return await self._batches(_PRUNE_INBOX.format(p="?", n=BATCH), _sqlite_time(before))

    async def prune_history(self, before: dt.datetime) -> int:
        """Delete history messages stored before `before`."""
        return await self._batches(_PRUNE_HISTORY.format(p="?", n=BATCH), _sqlite_time(before))

    async def finished_jobs(self, ids: Sequence[int], before: dt.datetime) -> set[int]:
        """Which of `ids` are delivered or failed jobs, last changed before `before`."""
        found: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = await self._db.execute_fetchall(
                f"SELECT id FROM avatar_jobs WHERE id IN ({marks})"
                " AND state IN ('delivered', 'failed') AND updated_at < ?",
                [*chunk, _sqlite_time(before)],
            )
            found.update(int(row[0]) for row in rows)
        return found

    async def _batches(self, sql: str, before: str) -> int:
        total = 0
        while True:
            cursor = await self._db.execute(sql, (before,))
            total += max(cursor.rowcount, 0)
            if cursor.rowcount < BATCH:
                return total


class PostgresRetentionStore:
    """Retention's deletions in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def prune_inbox(self, before: dt.datetime) -> int:
        """Delete messages answered before `before`, except each platform's newest row."""
        return await self._batches(_PRUNE_INBOX.format(p="$1", n=BATCH), before)

    async def prune_history(self, before: dt.datetime) -> int:
        """Delete history messages stored before `before`."""
        return await self._batches(_PRUNE_HISTORY.format(p="$1", n=BATCH), before)

    async def finished_jobs(self, ids: Sequence[int], before: dt.datetime) -> set[int]:
        """Which of `ids` are delivered or failed jobs, last changed before `before`."""
        rows = await self._pool.fetch(
            "SELECT id FROM avatar_jobs WHERE id = ANY($1::bigint[])"
            " AND state IN ('delivered', 'failed') AND updated_at < $2",
            list(ids),
            before,
        )
        return {int(row[0]) for row in rows}

    async def _batches(self, sql: str, before: dt.datetime) -> int:
        total = 0
        while True:
            status: str = await self._pool.execute(sql, before)  # "DELETE <count>"
            count = int(status.rsplit(" ", 1)[-1])
            total += count
            if count < BATCH:
                return total


class Retention:
    """The named cleanup task: runs at start, then every `interval` seconds, until closed."""

    def __init__(
        self,
        store: RetentionStore,
        media_dir: Path,
        policy: RetentionPolicy,
        *,
        clock: Clock = utc_now,
        interval: float = INTERVAL_SECONDS,
        counters: Counters | None = None,
    ) -> None:
        self._store, self._media, self._policy = store, media_dir, policy
        self._clock, self._interval, self._counters = clock, interval, counters
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the hourly task."""
        self._task = asyncio.create_task(self._run(), name="retention")

    async def aclose(self) -> None:
        """Cancel the task (a deletion in progress is rolled back or finished by the database)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self) -> Pruned:
        """Delete what the policy no longer keeps; return how much."""
        now, policy = self._clock(), self._policy
        if self._counters is not None:  # as Quotas.prune: the periods before yesterday
            await self._counters.prune((now - dt.timedelta(days=1)).strftime("%Y-%m-%d"))
        inbox = history = files = 0
        if policy.inbox_days is not None:
            before = now - dt.timedelta(days=policy.inbox_days)
            inbox = await self._store.prune_inbox(before)
            files += await asyncio.to_thread(_delete_older, self._media / ATTACHMENTS, before)
        if policy.history_days is not None:
            history = await self._store.prune_history(now - dt.timedelta(days=policy.history_days))
        if policy.media_days is not None:
            files += await self._prune_media(now - dt.timedelta(days=policy.media_days))
            voice = self._media / VOICE_FOLDER  # voice answers are sent when their file is made
            before = now - dt.timedelta(days=policy.media_days)
            files += await asyncio.to_thread(_delete_older, voice, before)
        pruned = Pruned(inbox, history, files)
        if inbox or history or files:
            log.info(
                "retention deleted %d inbox message(s), %d history message(s), %d file(s)",
                inbox,
                history,
                files,
            )
        return pruned

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("retention run failed; trying again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)

    async def _prune_media(self, before: dt.datetime) -> int:
        files = await asyncio.to_thread(_job_files, self._media)
        if not files:
            return 0
        finished = await self._store.finished_jobs(sorted(files), before)
        doomed = [path for job in finished for path in files[job]]
        return await asyncio.to_thread(_delete, doomed, self._media)


def _job_files(media: Path) -> dict[int, list[Path]]:
    """Every job's files under the media folder (attachments are not job files)."""
    found: dict[int, list[Path]] = {}
    for folder, subfolders, names in os.walk(media):
        if Path(folder) == media and ATTACHMENTS in subfolders:
            subfolders.remove(ATTACHMENTS)
        for name in names:
            match = _JOB_FILE.fullmatch(name)
            if match:
                found.setdefault(int(match[1]), []).append(Path(folder) / name)
    return found


def _delete(paths: list[Path], media: Path) -> int:
    deleted = 0
    for path in paths:
        if not _unlink(path):
            continue
        deleted += 1
        if path.parent != media:
            try:
                path.parent.rmdir()  # a web conversation's folder, once it is empty
            except OSError:
                pass
    return deleted


def _delete_older(folder: Path, before: dt.datetime) -> int:
    cutoff = before.timestamp()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    old = [Path(entry.path) for entry in entries if entry.stat().st_mtime < cutoff]
    return sum(1 for path in old if _unlink(path))


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
