"""Chat actions ("typing…", "recording video…") repeated while work goes on."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)

# Telegram shows a chat action for at most 5 seconds.
PRIVATE_INTERVAL = 4.5
# Actions count against a group's 20-messages-a-minute budget: repeat them sparingly there.
GROUP_INTERVAL = 12.0
# A render that never reports back stops showing its action after this long.
MAX_SECONDS = 600.0
# Most answers start showing within a second: only then is an action worth a request (each
# one costs a Bot API call and counts against a group's budget).
FIRST_DELAY = 1.0

_Key = tuple[int, int | None, str]


class ChatActions:
    """Owns one named task per (chat, topic, action); held by a count, cancelled at shutdown."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._held: dict[_Key, tuple[asyncio.Task[None], int]] = {}

    def hold(self, chat_id: int, thread_id: int | None, action: str, interval: float) -> None:
        """Start showing `action` in the chat, or count one more holder of it."""
        key = (chat_id, thread_id, action)
        task, count = self._held.get(key, (None, 0))
        if task is None or task.done():
            name = f"telegram-action-{chat_id}-{action}"
            task = asyncio.create_task(self._repeat(key, interval), name=name)
        self._held[key] = (task, count + 1)

    def release(self, chat_id: int, thread_id: int | None, action: str) -> None:
        """Drop one holder; the action stops when nobody holds it."""
        key = (chat_id, thread_id, action)
        if key not in self._held:
            return
        task, count = self._held[key]
        if count <= 1:
            del self._held[key]
            task.cancel()
        else:
            self._held[key] = (task, count - 1)

    async def aclose(self) -> None:
        """Cancel every repeating action."""
        tasks = [task for task, _ in self._held.values()]
        self._held.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _repeat(self, key: _Key, interval: float) -> None:
        chat_id, thread_id, action = key
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_SECONDS
        await asyncio.sleep(FIRST_DELAY)
        while loop.time() < deadline:
            try:
                await self._bot.send_chat_action(chat_id, action, message_thread_id=thread_id)
            except TelegramError as error:
                log.debug("chat action %s in %s failed: %s", action, chat_id, error)
            await asyncio.sleep(interval)
        self._held.pop(key, None)
