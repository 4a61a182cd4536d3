"""Bot API calls for one chat: a 429 waits for that chat only, network faults are retried."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4
# Never sleep longer than this for one 429; Telegram's hints are usually a few seconds.
MAX_RETRY_AFTER = 60.0


def retry_seconds(error: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int or a timedelta depending on PTB_TIMEDELTA."""
    value: object = error.retry_after
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(str(value))
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


async def call(make: Callable[[], Awaitable[T]], *, backoff: float = 0.5) -> T:
    """Run one Bot API call, waiting out 429s and retrying network errors a few times.

    Callers hold the chat's lock, so waiting here delays that chat and no other.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await make()
        except RetryAfter as error:
            if attempt == ATTEMPTS:
                raise
            log.info("Telegram asked to wait %.1fs", retry_seconds(error))
            await asyncio.sleep(retry_seconds(error))
        except (BadRequest, Forbidden):
            raise
        except (TimedOut, NetworkError) as error:
            if attempt == ATTEMPTS:
                raise
            log.info("Telegram call failed (%s), retrying", error)
            await asyncio.sleep(backoff * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def is_not_modified(error: BadRequest) -> bool:
    """Editing a message to the same content is not an error for us."""
    return "message is not modified" in error.message.lower()


def is_parse_error(error: BadRequest) -> bool:
    """Telegram refused our formatting; the same text goes again as plain text."""
    return "can't parse entities" in error.message.lower()
