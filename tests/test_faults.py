"""Faults at random from every service: each message still gets one answer, in order per chat,
and each video arrives once or the user is told in one line why not."""

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

CHATS = [2001, 2002, 2003, 2004, 2005]
MESSAGES = 4


@pytest.fixture
async def did() -> AsyncIterator[FakeDID]:
    async with FakeDID(render_seconds=0.01) as fake:
        yield fake


def inject(rng: random.Random, groq: FakeGroq, did: FakeDID, tg: FakeTelegram) -> None:
    """Faults for one message; a few outlast every retry, so the user must be told."""
    if rng.random() < 0.4:
        groq.fail_next("chat/completions", rng.choice([429, 500, 503]), times=rng.choice([1, 1, 3]))
    if rng.random() < 0.3:
        groq.delay_next("chat/completions", 1.0)  # over GROQ_TIMEOUT_SECONDS: a timeout
    if rng.random() < 0.4:
        did.fail_next(rng.choice(["POST /talks", "GET /talks"]), rng.choice([429, 500, 503]))
    if rng.random() < 0.15:  # Telegram's retry_after is at least 1 s
        tg.fail_next("sendMessage", 429, retry_after=1, chat_id=rng.choice(CHATS))
    if rng.random() < 0.3:
        tg.fail_next(rng.choice(["sendVideo", "sendMessage"]), 502)


def outcome(tg: FakeTelegram, chat: int) -> tuple[list[str], int, int, bool]:
    """Replies to messages, videos, one-line video notes, and whether renders were paused."""
    texts = [s.text or "" for s in tg.sent(chat, "sendMessage")]
    replies = [t for t in texts if not t.startswith("🎬")]
    notes = [t for t in texts if t.startswith("🎬")]
    paused = any("paused" in t for t in notes)
    return replies, len(tg.sent(chat, "sendVideo")), len(notes), paused


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_message_answered_once_in_order_under_faults(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, seed: int
) -> None:
    rng = random.Random(seed)
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path,
            groq,
            did,
            **telegram_at(tg),
            GROQ_TIMEOUT_SECONDS=0.3,
        )
        async with running_bot(settings):
            await tg.wait_for(lambda: tg.calls("getUpdates"))
            for n in range(MESSAGES):
                for chat in CHATS:
                    inject(rng, groq, did, tg)
                    tg.push_text(chat, f"message {n} in {chat}", user_id=chat)

            def done() -> bool:
                for chat in CHATS:
                    replies, videos, notes, paused = outcome(tg, chat)
                    answered = sum(t.startswith("You said") for t in replies)
                    if len(replies) < MESSAGES or (videos + notes < answered and not paused):
                        return False
                return True

            await tg.wait_for(done, timeout=25)
    for chat in CHATS:
        replies, videos, notes, paused = outcome(tg, chat)
        assert len(replies) == MESSAGES, replies  # one reply per message, none twice
        answered = [t for t in replies if t.startswith("You said")]
        expected = [f"You said: message {n} in {chat}" for n in range(MESSAGES)]
        assert answered == [e for e in expected if e in answered]  # in order
        failed = [t for t in replies if not t.startswith("You said")]
        assert all(t.startswith("⚠️") and len(t.splitlines()) == 1 for t in failed)
        # Each answer got its video once, or one line why not; while renders are paused the
        # conversation is told once, and later answers come without a video.
        assert videos + notes <= len(answered)
        assert paused or videos + notes == len(answered)
