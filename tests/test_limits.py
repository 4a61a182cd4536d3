"""Quotas, rate limits, the render pause, allow-lists and /stats: counted in SQLite, told once."""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from core.avatar.script import spoken_script
from core.limits import Limits, Reservation
from core.quota import Quotas
from core.storage.sqlite_counters import SqliteCounters
from core.types import ConversationKey, Failure, FinalText, Notice, Turn
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at, terminal
from tests.test_database import open_db

GROQ_REPLY = "Sure."  # what the fake model answers (tests/conftest.py)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A migrated SQLite database, closed even when the test fails."""
    connection = await open_db(tmp_path / "q.db")
    try:
        yield connection
    finally:
        await connection.close()


async def turn(core: Any, chat: str, user: str, text: str = "hi") -> list[object]:
    key = ConversationKey("test", chat)
    events = [e async for e in core.conversations.handle(Turn(key, user, text=text))]
    final = [e for e in events if isinstance(e, FinalText)]
    if final:
        events.append(await core.conversations.render_avatar(key, final[0].text, "", user))
    return events


async def test_daily_render_quota_per_user_survives_a_restart(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did, AVATAR_DAILY_LIMIT_PER_USER=2)
    async with terminal(settings) as (_, _, core):
        assert not isinstance((await turn(core, "a", "u1"))[-1], Notice)
        assert not isinstance((await turn(core, "b", "u1"))[-1], Notice)
    async with terminal(settings) as (_, _, core):  # a restart resets nothing
        third = await turn(core, "c", "u1")
        other = await turn(core, "d", "u2")
        stats = await core.conversations.stats()
    assert isinstance(third[-2], FinalText)  # the text answer still comes
    notice = third[-1]
    assert isinstance(notice, Notice)
    assert notice.message.startswith(
        "No video this time: your 2 avatar videos for today are used up"
    )
    assert "they reset in" in notice.message
    assert not isinstance(other[-1], Notice)
    # "Sure." as the spoken script estimates it: a credit for each video (one per started 15 s).
    total = 3 * spoken_script(GROQ_REPLY, settings.AVATAR_MAX_SECONDS).seconds
    assert stats.startswith(
        f"Today (UTC): 4 messages, 3 videos of {total:.1f} s in all (≈ 3 D-ID credits)"
    )
    assert "0 errors, 1 refused over limits;" in stats and stats.endswith("videos rendering now.")


async def test_daily_total_quota(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> None:
    settings = settings_for(tmp_path, groq, did, AVATAR_DAILY_LIMIT_TOTAL=1)
    async with terminal(settings) as (_, _, core):
        await turn(core, "a", "u1")
        refused = await turn(core, "b", "u2")
    assert isinstance(refused[-1], Notice)
    assert "today's avatar videos are all used" in refused[-1].message


async def test_message_rate_limit_per_user(tmp_path: Path, groq: FakeGroq) -> None:
    settings = settings_for(tmp_path, groq, None, USER_MESSAGES_PER_MINUTE=3)
    async with terminal(settings) as (_, _, core):
        answers = [await turn(core, "a", "spammer") for _ in range(5)]
        other = await turn(core, "a", "polite")
    failures = [a for a in answers if isinstance(a[0], Failure)]
    assert len(failures) == 2
    assert "faster than I can answer" in failures[0][0].message  # type: ignore[attr-defined]
    assert any(isinstance(event, FinalText) for event in other)
    assert len(groq.chat_bodies) == 4


async def test_quota_resets_at_midnight_utc(db: aiosqlite.Connection) -> None:
    now = [dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC)]
    quotas = Quotas(SqliteCounters(db), Limits(renders_per_user=1), clock=lambda: now[0])
    assert isinstance(await quotas.reserve_render("telegram:1", 3), Reservation)
    refusal = await quotas.reserve_render("telegram:1", 3)
    assert isinstance(refusal, str) and "reset in 30 min" in refusal
    now[0] += dt.timedelta(hours=1)
    assert isinstance(await quotas.reserve_render("telegram:1", 3), Reservation)


async def test_seconds_quota_refuses_a_long_video_and_says_what_is_left(
    db: aiosqlite.Connection,
) -> None:
    now = dt.datetime(2026, 11, 25, 21, 15, tzinfo=dt.UTC)
    limits = Limits(seconds_per_user=60, seconds_total=100)
    quotas = Quotas(SqliteCounters(db), limits, clock=lambda: now)
    assert isinstance(await quotas.reserve_render("telegram:1", 45), Reservation)
    assert await quotas.reserve_render("telegram:1", 20) == (
        "No video this time: this answer needs about 20 s of video and you have 15 s left"
        " today; they reset in 2 h 45 min."
    )
    assert isinstance(await quotas.reserve_render("telegram:1", 15), Reservation)  # exactly
    assert "your 60 seconds of avatar video for today are used up" in str(
        await quotas.reserve_render("telegram:1", 1)
    )
    assert isinstance(await quotas.reserve_render("telegram:2", 40), Reservation)
    assert "today's seconds of avatar video are all used" in str(
        await quotas.reserve_render("telegram:3", 1)
    )


@pytest.mark.parametrize(
    "answer",
    [
        "Yes " + "& " * 3000 + "end.",  # read "and and and…"
        "Sum: " + "1 + " * 1000 + "1 = 1001.",
        "Costs " + "5 % $ € @ # " * 400 + "in all.",
        "Well " + "— " * 3000 + "so.",  # a pause each
    ],
    ids=["ampersands", "pluses", "symbols", "dashes"],
)
async def test_an_answer_of_symbols_is_counted_as_the_speech_d_id_bills(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, answer: str
) -> None:
    groq.reply = answer
    settings = settings_for(tmp_path, groq, did, AVATAR_MAX_SECONDS=45)
    async with terminal(settings) as (chat, screen, core):
        await chat.handle("Say it.")
        await screen.wait_for("avatar video ready")
        (talk,) = did.talks.values()
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        counted = await core.storage.counters.get(day, "*", "render_ms")
    # The fake reads each word or symbol at 2.5 a second, as text-to-speech reads them; the
    # script is cut to the cap, and what is counted is never less than what is rendered.
    assert counted <= 45_000 and counted >= talk.duration * 1000


async def test_render_pause_after_out_of_credits_is_told_once(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    did.credits_remaining = 0
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, core):
        await chat.handle("first")
        await screen.wait_for("out of credits")
        await chat.handle("second")
        await chat.handle("third")
    assert len(did.calls("/talks", "POST")) == 1  # no hammering while paused
    # The failure itself told this conversation; nothing more is said while paused.
    assert screen.text.count("🎬") == 1


async def test_pause_is_explained_to_a_conversation_not_told_yet(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    did.fail_next("POST /talks", 503, times=10)
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, core):
        await chat.handle("first")
        await screen.wait_for("🎬")
        events = await turn(core, "someone-else", "u9")
        again = await turn(core, "someone-else", "u9")
    assert isinstance(events[-1], Notice)
    assert events[-1].message.startswith("Avatar videos are paused for about 5 min")
    assert again[-1] is None  # told once


async def test_stats_for_admins(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> None:
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path,
            groq,
            did,
            **telegram_at(tg),
            ADMIN_USER_IDS="1001",
        )
        async with running_bot(settings):
            tg.push_text(1001, "hello")
            await tg.wait_for_sent(1001, "sendVideo")
            tg.push_text(1001, "/stats")
            tg.push_text(1002, "/stats", user_id=1002)
            await tg.wait_for(lambda: len(tg.sent(1001, "sendMessage")) == 2)
            await tg.wait_for_sent(1002, "sendMessage")
    stats = tg.sent(1001, "sendMessage")[-1].text or ""
    seconds = spoken_script(GROQ_REPLY, settings.AVATAR_MAX_SECONDS).seconds
    assert stats.startswith(
        f"Today (UTC): 1 messages, 1 videos of {seconds:.1f} s in all (≈ 1 D-ID credits)"
    )
    assert tg.sent(1002, "sendMessage")[0].text == "Only the bot's admins can use /stats."


async def test_telegram_allow_list(tmp_path: Path, groq: FakeGroq) -> None:
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path,
            groq,
            None,
            **telegram_at(tg),
            TELEGRAM_ALLOWED_CHAT_IDS="1001",
        )
        async with running_bot(settings):
            tg.push_text(1002, "let me in", user_id=1002)
            tg.push_text(1001, "hello")
            await tg.wait_for_sent(1002, "sendMessage")
            await tg.wait_for_sent(1001, "sendMessage")
    assert tg.sent(1002, "sendMessage")[0].text == "Sorry, this bot is private."
    assert [b["messages"][-1]["content"] for b in groq.chat_bodies] == ["hello"]


async def test_a_burst_of_admissions_shares_statements_and_counts_in_order(
    db: aiosqlite.Connection,
) -> None:
    statements: list[str] = []
    await db.set_trace_callback(statements.append)
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    quotas = Quotas(SqliteCounters(db), Limits(messages_per_minute=3), clock=lambda: now)
    users = ["telegram:1"] * 5 + [f"telegram:{n}" for n in range(2, 12)]
    answers = await asyncio.gather(*(quotas.admit_message(user) for user in users))
    # The first three of user 1 are admitted, the next two refused; everyone else admitted.
    assert [answer is None for answer in answers[:5]] == [True, True, True, False, False]
    assert all(answer is None for answer in answers[5:])
    inserts = [sql for sql in statements if sql.startswith("INSERT INTO counters")]
    assert 1 <= len(inserts) < len(users) // 2
    assert (await quotas.today())["messages"] == len(users)
