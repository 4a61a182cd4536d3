"""The database the stores live on: SQLite by default, PostgreSQL for replicas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.avatar.jobs import LEASE_SECONDS as JOB_LEASE_SECONDS
from core.avatar.ports import FaceStore, JobStore
from core.ports import Counters, HistoryStore, Inbox, PreferenceStore
from core.retention import PostgresRetentionStore, RetentionStore, SqliteRetentionStore
from core.storage import sqlite
from core.storage.faces import PostgresFaceStore, SqliteFaceStore
from core.storage.inbox import LEASE_SECONDS, SqliteInbox
from core.storage.keys import PostgresServerKeys, ServerKeys, SqliteServerKeys
from core.storage.leases import process_owner
from core.storage.preferences import PostgresPreferenceStore, SqlitePreferenceStore
from core.storage.sqlite_counters import SqliteCounters
from core.storage.sqlite_stores import SqliteHistoryStore, SqliteJobStore

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
POSTGRES_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgres"


@dataclass
class Storage:
    """The stores on one database (SQLite or PostgreSQL), and how to close it."""

    history: HistoryStore
    preferences: PreferenceStore
    jobs: JobStore
    inbox: Inbox
    counters: Counters
    keys: ServerKeys
    retention: RetentionStore
    faces: FaceStore
    close: Callable[[], Awaitable[None]]
    # Migrations applied when the database was opened.
    applied: list[str] = field(default_factory=list)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a `sqlite:///path` URL (`sqlite:////abs/path` for an absolute one), else None."""
    scheme, _, rest = database_url.partition(":///")
    return Path(rest) if scheme == "sqlite" else None


async def open_storage(
    database_url: str,
    *,
    inbox_lease: float = LEASE_SECONDS,
    job_lease: float = JOB_LEASE_SECONDS,
) -> Storage:
    """Open the database at `database_url`, apply pending migrations and build the stores.

    The inbox and the avatar jobs hold what this process records under a name of its own: on
    PostgreSQL for `inbox_lease` / `job_lease` seconds at a time, renewed while it runs.
    """
    owner = process_owner()
    path = sqlite_path(database_url)
    if path is not None:
        db = await sqlite.connect(path)
        try:
            applied = await sqlite.migrate(db, MIGRATIONS_DIR)
        except BaseException:
            await db.close()
            raise
        return Storage(
            SqliteHistoryStore(db),
            SqlitePreferenceStore(db),
            SqliteJobStore(db),
            SqliteInbox(db, owner),
            SqliteCounters(db),
            SqliteServerKeys(db),
            SqliteRetentionStore(db),
            SqliteFaceStore(db),
            db.close,
            applied,
        )
    if not database_url.startswith(("postgresql://", "postgres://")):
        raise ValueError("the database URL must start with sqlite:/// or postgresql://")
    return await _open_postgres(database_url, owner, inbox_lease, job_lease)


async def _open_postgres(
    database_url: str, owner: str, inbox_lease: float, job_lease: float
) -> Storage:
    # Imported only when used: asyncpg adds ~14 MiB to every process that loads it.
    from core.storage import postgres
    from core.storage.postgres_counters import PostgresCounters
    from core.storage.postgres_inbox import PostgresInbox
    from core.storage.postgres_stores import PostgresHistoryStore, PostgresJobStore

    pool = await postgres.connect_pool(database_url)
    try:
        applied = await postgres.migrate(pool, POSTGRES_MIGRATIONS_DIR)
    except BaseException:
        await pool.close()
        raise
    return Storage(
        PostgresHistoryStore(pool),
        PostgresPreferenceStore(pool),
        PostgresJobStore(pool, owner, job_lease),
        PostgresInbox(pool, owner, inbox_lease),
        PostgresCounters(pool),
        PostgresServerKeys(pool),
        PostgresRetentionStore(pool),
        PostgresFaceStore(pool),
        pool.close,
        applied,
    )
