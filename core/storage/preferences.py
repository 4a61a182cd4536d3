"""What each chat chose (/avatar, /persona, /reply, /voice), on SQLite and on PostgreSQL.

One row per chat (`platform`, `chat_id`): a chat's topics share it. A NULL column is a choice
never made (or reset): the bot's default applies, and the store says None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiosqlite

from core.types import REPLY_MODES, ConversationKey, ReplyMode

if TYPE_CHECKING:  # asyncpg is loaded only where PostgreSQL is used (bot/storage.py)
    import asyncpg

# The columns a choice is kept in (names from this module only, never from input).
AVATAR, PERSONA, REPLY_MODE, VOICE = "avatar_enabled", "persona", "reply_mode", "voice_id"
_COLUMNS = frozenset({AVATAR, PERSONA, REPLY_MODE, VOICE})
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def _column(name: str) -> str:
    if name not in _COLUMNS:
        raise ValueError(f"no preference column {name!r}")
    return name


def _mode(value: Any) -> ReplyMode | None:
    """Return a stored reply mode as its type (the table's CHECK keeps out anything else)."""
    for mode in REPLY_MODES:
        if value == mode:
            return mode
    return None


class _Choices:
    """The typed choices over a store's `_get`/`_set` of one column of the chat's row."""

    async def _get(self, key: ConversationKey, column: str) -> Any:
        raise NotImplementedError

    async def _set(self, key: ConversationKey, column: str, value: object) -> None:
        raise NotImplementedError

    async def avatar_enabled(self, key: ConversationKey) -> bool | None:
        """Return the chat's avatar switch, or None when never set."""
        value = await self._get(key, AVATAR)
        return None if value is None else bool(value)

    async def set_avatar_enabled(self, key: ConversationKey, enabled: bool) -> None:
        """Store the chat's avatar switch."""
        await self._set(key, AVATAR, enabled)  # SQLite keeps it as 1 or 0

    async def persona(self, key: ConversationKey) -> str | None:
        """Return the chat's persona (free text or a PERSONAS name), or None for the default."""
        value: str | None = await self._get(key, PERSONA)
        return value

    async def set_persona(self, key: ConversationKey, persona: str | None) -> None:
        """Store the chat's persona; None goes back to the default."""
        await self._set(key, PERSONA, persona)

    async def reply_mode(self, key: ConversationKey) -> ReplyMode | None:
        """Return how the chat wants its answers, or None for the default."""
        return _mode(await self._get(key, REPLY_MODE))

    async def set_reply_mode(self, key: ConversationKey, mode: ReplyMode | None) -> None:
        """Store how the chat wants its answers; None goes back to the default."""
        await self._set(key, REPLY_MODE, mode)

    async def voice_id(self, key: ConversationKey) -> str | None:
        """Return the D-ID voice the chat chose, or None for the language's default."""
        value: str | None = await self._get(key, VOICE)
        return value

    async def set_voice_id(self, key: ConversationKey, voice_id: str | None) -> None:
        """Store the chat's D-ID voice; None goes back to the language's default."""
        await self._set(key, VOICE, voice_id)


class SqlitePreferenceStore(_Choices):
    """Per-chat choices on SQLite."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _get(self, key: ConversationKey, column: str) -> Any:
        sql = f"SELECT {_column(column)} FROM chat_preferences WHERE platform = ? AND chat_id = ?"
        async with self._db.execute(sql, (key.platform, key.chat_id)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def _set(self, key: ConversationKey, column: str, value: object) -> None:
        name = _column(column)
        await self._db.execute(
            f"INSERT INTO chat_preferences (platform, chat_id, {name}) VALUES (?, ?, ?)"
            f" ON CONFLICT (platform, chat_id) DO UPDATE SET {name} = excluded.{name},"
            f" updated_at = {_NOW}",
            (key.platform, key.chat_id, value),
        )


class PostgresPreferenceStore(_Choices):
    """Per-chat choices on PostgreSQL: the same methods and values as the SQLite store."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _get(self, key: ConversationKey, column: str) -> Any:
        sql = f"SELECT {_column(column)} FROM chat_preferences WHERE platform = $1 AND chat_id = $2"
        return await self._pool.fetchval(sql, key.platform, key.chat_id)

    async def _set(self, key: ConversationKey, column: str, value: object) -> None:
        name = _column(column)
        await self._pool.execute(
            f"INSERT INTO chat_preferences (platform, chat_id, {name}) VALUES ($1, $2, $3)"
            f" ON CONFLICT (platform, chat_id) DO UPDATE SET {name} = excluded.{name},"
            " updated_at = now()",
            key.platform,
            key.chat_id,
            value,
        )
