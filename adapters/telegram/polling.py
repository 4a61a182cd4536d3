"""Long polling that records each update in the inbox before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from telegram import Bot, Update
from telegram.error import InvalidToken, RetryAfter
from telegram.ext import BaseUpdateProcessor

from adapters.telegram.calls import retry_seconds
from adapters.telegram.convert import PLATFORM
from core.inflight import InFlight
from core.ports import Inbox

log = logging.getLogger(__name__)

T = TypeVar("T")

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
        """Poll until cancelled, after removing a webhook a previous run may have left."""
        await self._retrying("deleteWebhook", self._delete_webhook)
        last = await self._retrying("reading the inbox", lambda: self._inbox.last_key(PLATFORM))
        offset = int(last) + 1 if last is not None else None
        while True:
            updates = await self._retrying("getUpdates", functools.partial(self._fetch, offset))
            if updates:
                # Only a recorded batch moves the offset, which confirms it to Telegram.
                offset = updates[-1].update_id + 1
                # Building the next long poll takes ~0.5 ms of the event loop: let the
                # updates just queued get their model requests out first.
                await asyncio.sleep(ANSWERS_FIRST_SECONDS)

    async def _delete_webhook(self) -> None:
        # While a webhook is set getUpdates answers 409; pending updates stay for polling.
        await self._bot.delete_webhook(drop_pending_updates=False)

    async def _fetch(self, offset: int | None) -> tuple[Update, ...]:
        """One long poll, its updates recorded: a batch that fails to record is fetched again."""
        updates = await self._bot.get_updates(
            offset=offset,
            timeout=POLL_TIMEOUT,
            allowed_updates=[Update.MESSAGE],
            read_timeout=POLL_TIMEOUT + 10,
        )
        if updates:
            await self._accept(updates)
        return updates

    async def _retrying(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run `step` until it succeeds, backing off; only a refused token stops polling."""
        failures = 0
        while True:
            try:
                return await step()
            except RetryAfter as error:
                await asyncio.sleep(retry_seconds(error))
            except InvalidToken:
                log.error("Telegram refused TELEGRAM_BOT_TOKEN; polling stops")
                raise
            except Exception as error:  # network, Bot API or database: all worth retrying
                failures += 1
                log.warning("%s failed (%s); retrying", what, error)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))

    async def _accept(self, updates: Sequence[Update]) -> None:
        """Record the batch in one statement, then queue the updates not seen before."""
        batch = [(str(update.update_id), self._payload(update)) for update in updates]
        new = await self._inbox.record_many(PLATFORM, batch)
        for update in updates:
            if str(update.update_id) in new:
                self._queue.put_nowait(update)


def _serialised(update: Update) -> str:
    return json.dumps(update.to_dict())
