"""Long polling that records each update in the inbox before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseUpdateProcessor

from adapters.telegram.calls import retry_seconds
from adapters.telegram.convert import PLATFORM
from core.inflight import InFlight
from core.ports import Inbox

log = logging.getLogger(__name__)

# Telegram holds a getUpdates request open this long when there is nothing to deliver.
POLL_TIMEOUT = 10
# How long the next getUpdates waits after a batch was queued.
ANSWERS_FIRST_SECONDS = 0.002
# PTB's default cap on updates handled at once.
MAX_CONCURRENT = 256


class InboxProcessor(BaseUpdateProcessor):
    """Handles updates concurrently; marks each answered in the inbox once its handler is done."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(MAX_CONCURRENT)
        self._inbox = inbox
        self.in_flight = InFlight()

    async def do_process_update(self, update: object, coroutine: Awaitable[object]) -> None:
        """Run the handlers; a crash or cancellation before the end leaves it to be replayed."""
        if not isinstance(update, Update):
            await coroutine
            return
        with self.in_flight.track(update.update_id):
            await coroutine
        await self._inbox.answered(PLATFORM, str(update.update_id))

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


class InboxPoller:
    """Fetches updates, records them, and only then confirms them with the next offset."""

    def __init__(
        self,
        bot: Bot,
        inbox: Inbox,
        queue: asyncio.Queue[object],
        payload: Callable[[Update], str] | None = None,
    ) -> None:
        self._bot, self._inbox, self._queue = bot, inbox, queue
        self._payload = payload or _serialised

    async def replay(self) -> int:
        """Queue the updates recorded but not answered before the last stop."""
        entries = await self._inbox.claim_unanswered(PLATFORM)
        for entry in entries:
            update = Update.de_json(json.loads(entry.payload), self._bot)
            await self._queue.put(update)
        return len(entries)

    async def run(self) -> None:
        """Poll until cancelled."""
        last = await self._inbox.last_key(PLATFORM)
        offset = int(last) + 1 if last is not None else None
        failures = 0
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=[Update.MESSAGE],
                    read_timeout=POLL_TIMEOUT + 10,
                )
                failures = 0
            except RetryAfter as error:
                await asyncio.sleep(retry_seconds(error))
                continue
            except InvalidToken:
                log.error("Telegram refused TELEGRAM_BOT_TOKEN; polling stops")
                raise
            except (NetworkError, TelegramError) as error:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", error)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if updates:
                await self._accept(updates)
                offset = updates[-1].update_id + 1
                # Building the next long poll takes ~0.5 ms of the event loop: let the
                # updates just queued get their model requests out first.
                await asyncio.sleep(ANSWERS_FIRST_SECONDS)

    async def _accept(self, updates: Sequence[Update]) -> None:
        """Record the batch in one statement, then queue the updates not seen before."""
        batch = [(str(update.update_id), self._payload(update)) for update in updates]
        new = await self._inbox.record_many(PLATFORM, batch)
        for update in updates:
            if str(update.update_id) in new:
                self._queue.put_nowait(update)


def _serialised(update: Update) -> str:
    return json.dumps(update.to_dict())
