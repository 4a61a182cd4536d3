"""MESSAGES_DAILY_LIMIT_TOTAL: the model answers at most so many messages a UTC day, for everyone.

Driven through the wired core (SQLite counters) against fake Groq and fake Telegram.
"""

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from core.types import ConversationKey, Failure, FinalText, TextDelta, Turn
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at, terminal

USED_UP = "I've answered all the messages I can for today — please come back in"


async def ask(core: Any, chat: str, user: str, text: str = "hi") -> list[object]:
    key = ConversationKey("test", chat)
    return [e async for e in core.conversations.handle(Turn(key, user, text=text))]


def answered(events: list[object]) -> bool:
    return any(isinstance(e, FinalText) for e in events)


def refusal(events: list[object]) -> str:
    [failure] = [e for e in events if isinstance(e, Failure)]
    return failure.message


async def test_the_days_answers_end_at_the_limit_survive_a_restart_and_warn_once(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, groq, None, MESSAGES_DAILY_LIMIT_TOTAL=2)
    async with terminal(settings) as (_, _, core):
        assert answered(await ask(core, "a", "u1"))
    caplog.set_level(logging.WARNING, logger="core.quota")
    async with terminal(settings) as (_, _, core):  # a restart resets nothing
        assert answered(await ask(core, "b", "u2"))  # another user, another chat: same total
        third, fourth = await ask(core, "c", "u3"), await ask(core, "a", "u1")
        stats = await core.conversations.stats()
    assert refusal(third).startswith(USED_UP) and refusal(fourth).startswith(USED_UP)
    assert len(groq.chat_bodies) == 2  # the refused turns never reached Groq
    warnings = [r for r in caplog.records if "MESSAGES_DAILY_LIMIT_TOTAL" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]  # once for the day
    assert stats.endswith("\nModel answers today: 2 of 2.")
    assert "2 refused over limits" in stats


async def test_turns_at_once_across_conversations_never_pass_the_limit(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = settings_for(tmp_path, groq, None, MESSAGES_DAILY_LIMIT_TOTAL=3)
    async with terminal(settings) as (_, _, core):
        gate = groq.hold()  # no answer ends before every turn has asked for its place
        turns = [asyncio.create_task(ask(core, f"c{n}", f"u{n}"), name=f"t{n}") for n in range(12)]
        try:
            await groq.wait_for(lambda: len(groq.chat_bodies) == 3)
            gate.set()
            results = await asyncio.gather(*turns)
        finally:
            groq.release()
            for task in turns:
                task.cancel()
    assert sum(answered(r) for r in results) == 3
    assert sum(refusal(r).startswith(USED_UP) for r in results if not answered(r)) == 9
    assert len(groq.chat_bodies) == 3


async def test_a_turn_without_an_answer_gives_its_place_back(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = settings_for(tmp_path, groq, None, MESSAGES_DAILY_LIMIT_TOTAL=1, GROQ_MAX_RETRIES=0)
    async with terminal(settings) as (_, _, core):
        groq.fail_next("chat/completions", 503)
        failed = await ask(core, "a", "u1")
        too_long = await ask(core, "a", "u1", "x" * (settings.MAX_MESSAGE_CHARS + 1))
        later = await ask(core, "a", "u1")
        after = await ask(core, "b", "u2")
    assert not answered(failed) and not refusal(failed).startswith(USED_UP)
    assert "too long" in refusal(too_long)
    assert answered(later)  # Groq failed and the input was refused: neither used the place
    assert refusal(after).startswith(USED_UP)


async def test_an_answer_cut_off_midway_keeps_its_place(tmp_path: Path, groq: FakeGroq) -> None:
    settings = settings_for(tmp_path, groq, None, MESSAGES_DAILY_LIMIT_TOTAL=1)
    async with terminal(settings) as (_, _, core):
        groq.reply = "Sure, here it comes."
        groq.fail_stream_next(after_chunks=2)  # the user saw part of it: Groq billed the tokens
        cut = await ask(core, "a", "u1")
        after = await ask(core, "a", "u1")
    assert any(isinstance(e, TextDelta) for e in cut) and not answered(cut)
    assert refusal(after).startswith(USED_UP)


async def test_the_line_comes_in_the_users_language_and_commands_still_work(
    tmp_path: Path, groq: FakeGroq
) -> None:
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path, groq, None, **telegram_at(tg), MESSAGES_DAILY_LIMIT_TOTAL=1
        )
        async with running_bot(settings):
            tg.push_text(1001, "hello")
            await tg.wait_for_sent(1001, "sendMessage")
            tg.push_text(1002, "hola", user_id=1002, language_code="es")
            await tg.wait_for_sent(1002, "sendMessage")
            tg.push_text(1002, "/help", user_id=1002, language_code="es")
            await tg.wait_for(lambda: len(tg.sent(1002, "sendMessage")) == 2)
    refused, help_text = (s.text or "" for s in tg.sent(1002, "sendMessage"))
    assert "Ya respondí todos los mensajes que puedo por hoy. Vuelve dentro de" in refused
    assert refused.endswith(", por favor.")  # with the time in between, as Spanish says it
    assert "/usage" in help_text and len(groq.chat_bodies) == 1
