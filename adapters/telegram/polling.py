"""Long polling that records each update in the inbox before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from telegram import Bot, Update
from telegram.error import InvalidToken, RetryAfter

from adapters.telegram.calls import retry_seconds
from adapters.telegram.convert import PLATFORM
from adapters.telegram.platform import TelegramPlatform
from core.ports import Inbox

log = logging.getLogger(__name__)

T = TypeVar("T")

# Telegram holds a getUpdates request open this long when there is nothing to deliver.
POLL_TIMEOUT = 10
# How long the next getUpdates waits after a batch was accepted.
ANSWERS_FIRST_SECONDS = 0.002


class InboxPoller:
    """Fetches updates, hands them to the turn runner, and only then confirms them (the offset)."""

    def __init__(
        self,
        bot: Bot,
        inbox: Inbox,
        platform: TelegramPlatform,
        payload: Callable[[Update], str],  # the update's JSON for the inbox
    ) -> None:
        self._bot, self._inbox, self._platform, self._payload = bot, inbox, platform, payload

    async def run(self) -> None:
        """Poll until cancelled, after removing a webhook a previous run may have left."""
        # While a webhook is set getUpdates answers 409; pending updates stay for polling.
        delete_webhook = partial(self._bot.delete_webhook, drop_pending_updates=False)
        await self._retrying("deleteWebhook", delete_webhook)
        last = await self._retrying("reading the inbox", lambda: self._inbox.last_key(PLATFORM))
        offset = int(last) + 1 if last is not None else None
        while True:
            updates = await self._retrying("getUpdates", partial(self._fetch, offset))
            if updates:
                # Only a recorded batch moves the offset, which confirms it to Telegram.
                offset = updates[-1].update_id + 1
                # Building the next long poll takes ~0.5 ms of the event loop: let the
                # updates just accepted get their model requests out first.
                await asyncio.sleep(ANSWERS_FIRST_SECONDS)

    async def _fetch(self, offset: int | None) -> tuple[Update, ...]:
        """One long poll, its updates recorded: a batch that fails to record is fetched again."""
        updates = await self._bot.get_updates(
            offset=offset,
            timeout=POLL_TIMEOUT,
            allowed_updates=[Update.MESSAGE],
            read_timeout=POLL_TIMEOUT + 10,
        )
        if updates:
            # The whole batch in one statement; only then may the offset move.
            await self._platform.accept([(update, self._payload(update)) for update in updates])
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
