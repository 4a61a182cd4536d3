"""Each chat's own avatar face (`/face`) on SQLite and on PostgreSQL: table `chat_faces`.

One row per chat (`platform`, `chat_id`), so a chat's topics share it; it lives until
`/face reset` deletes it (retention does not age it out: it is the chat's choice).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiosqlite

from core.types import ConversationKey, Face

if TYPE_CHECKING:  # asyncpg is loaded only where PostgreSQL is used (bot/storage.py)
    import asyncpg

_COLUMNS = "image, mime, did_url, uploaded_at"
_UPLOAD = "mime, did_url, uploaded_at"  # all but the photo's bytes
_UPSERT = (
    " ON CONFLICT (platform, chat_id) DO UPDATE SET image = excluded.image,"
    " mime = excluded.mime, did_url = excluded.did_url, uploaded_at = excluded.uploaded_at,"
)


def _face(row: Any, uploaded_at: datetime | None) -> Face:
    return Face(bytes(row["image"]), row["mime"], row["did_url"], uploaded_at)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat()


class SqliteFaceStore:
    """Chats' faces on SQLite; times kept as ISO 8601 text in UTC."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def face(self, key: ConversationKey) -> Face | None:
        """Return the chat's face, or None when it uses the default one."""
        sql = f"SELECT {_COLUMNS} FROM chat_faces WHERE platform = ? AND chat_id = ?"
        async with self._db.execute(sql, (key.platform, key.chat_id)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        uploaded = row["uploaded_at"]
        return _face(row, None if uploaded is None else _utc(datetime.fromisoformat(uploaded)))

    async def face_upload(self, key: ConversationKey) -> Face | None:
        """Return the chat's face without its bytes: its type, URL and upload time."""
        sql = f"SELECT {_UPLOAD} FROM chat_faces WHERE platform = ? AND chat_id = ?"
        async with self._db.execute(sql, (key.platform, key.chat_id)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        uploaded = row["uploaded_at"]
        moment = None if uploaded is None else _utc(datetime.fromisoformat(uploaded))
        return Face(b"", row["mime"], row["did_url"], moment)

    async def put_face(self, key: ConversationKey, face: Face) -> None:
        """Keep `face` as the chat's face, replacing any earlier one."""
        await self._db.execute(
            f"INSERT INTO chat_faces (platform, chat_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            f"{_UPSERT} updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (
                key.platform,
                key.chat_id,
                face.image,
                face.mime,
                face.url,
                _iso(face.uploaded_at),
            ),
        )

    async def replace_face_url(
        self, key: ConversationKey, old_url: str | None, new_url: str, uploaded_at: datetime
    ) -> bool:
        """Store a new upload's URL if the face's URL is still `old_url`."""
        async with self._db.execute(
            "UPDATE chat_faces SET did_url = ?, uploaded_at = ?,"
            " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
            " WHERE platform = ? AND chat_id = ? AND did_url IS ?",
            (new_url, _iso(uploaded_at), key.platform, key.chat_id, old_url),
        ) as cursor:
            return cursor.rowcount == 1

    async def delete_face(self, key: ConversationKey) -> bool:
        """Forget the chat's face, bytes and all; False when it had none."""
        async with self._db.execute(
            "DELETE FROM chat_faces WHERE platform = ? AND chat_id = ?",
            (key.platform, key.chat_id),
        ) as cursor:
            return cursor.rowcount == 1


class PostgresFaceStore:
    """Chats' faces on PostgreSQL: the same methods and values as the SQLite store."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def face(self, key: ConversationKey) -> Face | None:
        """Return the chat's face, or None when it uses the default one."""
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM chat_faces WHERE platform = $1 AND chat_id = $2",
            key.platform,
            key.chat_id,
        )
        return None if row is None else _face(row, row["uploaded_at"])

    async def face_upload(self, key: ConversationKey) -> Face | None:
        """Return the chat's face without its bytes: its type, URL and upload time."""
        row = await self._pool.fetchrow(
            f"SELECT {_UPLOAD} FROM chat_faces WHERE platform = $1 AND chat_id = $2",
            key.platform,
            key.chat_id,
        )
        return None if row is None else Face(b"", row["mime"], row["did_url"], row["uploaded_at"])

    async def put_face(self, key: ConversationKey, face: Face) -> None:
        """Keep `face` as the chat's face, replacing any earlier one."""
        await self._pool.execute(
            f"INSERT INTO chat_faces (platform, chat_id, {_COLUMNS})"
            f" VALUES ($1, $2, $3, $4, $5, $6){_UPSERT} updated_at = now()",
            key.platform,
            key.chat_id,
            face.image,
            face.mime,
            face.url,
            None if face.uploaded_at is None else _utc(face.uploaded_at),
        )

    async def replace_face_url(
        self, key: ConversationKey, old_url: str | None, new_url: str, uploaded_at: datetime
    ) -> bool:
        """Store a new upload's URL if the face's URL is still `old_url`."""
        status = await self._pool.execute(
            "UPDATE chat_faces SET did_url = $3, uploaded_at = $4, updated_at = now()"
            " WHERE platform = $1 AND chat_id = $2 AND did_url IS NOT DISTINCT FROM $5",
            key.platform,
            key.chat_id,
            new_url,
            _utc(uploaded_at),
            old_url,
        )
        return bool(status == "UPDATE 1")

    async def delete_face(self, key: ConversationKey) -> bool:
        """Forget the chat's face, bytes and all; False when it had none."""
        status = await self._pool.execute(
            "DELETE FROM chat_faces WHERE platform = $1 AND chat_id = $2",
            key.platform,
            key.chat_id,
        )
        return bool(status == "DELETE 1")
