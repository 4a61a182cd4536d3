"""Bot API calls for one chat: a 429 waits for that chat only, network faults are retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from adapters.telegram.convert import Target, seconds

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4
# How long a sendMessage waits for Telegram's answer (PTB's default is 5 s). A read timeout
# comes after Telegram got the whole request, which it then carries out anyway: sent again, the
# message would show twice. Telegram answers a processed request well within this.
SEND_READ_TIMEOUT = 20.0
# Never sleep longer than this for one 429; Telegram's hints are usually a few seconds.
MAX_RETRY_AFTER = 60.0


def retry_seconds(error: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int or a timedelta depending on PTB_TIMEDELTA."""
    return min(max(seconds(error.retry_after), 0.0), MAX_RETRY_AFTER)


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


def replying(to: Target) -> ReplyParameters:
    """A reply to `to`'s message, sent on its own where that message is gone."""
    return ReplyParameters(to.message_id, allow_sending_without_reply=True)


async def reply(bot: Bot, to: Target, text: str, mode: str | None = None) -> Message:
    """Send `text` in `to`'s chat and topic, as a reply to its message (one attempt)."""
    return await bot.send_message(
        to.chat_id,
        text,
        parse_mode=mode,
        message_thread_id=to.thread_id,
        reply_parameters=replying(to),
        read_timeout=SEND_READ_TIMEOUT,
    )


async def tell(bot: Bot, to: Target, line: str) -> None:
    """Send one line as a reply to `to`, best effort: a refusal is logged, not raised."""
    try:
        await call(lambda: reply(bot, to, line))
    except Forbidden as error:
        log.info("chat %s is gone: %s", to.chat_id, error)
    except TelegramError as error:
        log.warning("chat %s: could not say %r: %s", to.chat_id, line[:40], error)
