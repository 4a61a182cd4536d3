"""Discord refusing or failing while an answer is shown: every answer arrives once, whole."""

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.storage import open_storage
from tests.fakes.did import FakeDID
from tests.fakes.discord import GUILD_ID, SEND_MESSAGES, TEXT_CHANNEL_ID, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.harness import running_bot, settings_for

GROQ_REPLY = "Hello from Ava."  # what the fake model answers (tests/conftest.py)
MESSAGES = "/channels/{channel_id}/messages"


def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, **extra: Any) -> Any:
    return settings_for(
        tmp_path,
        groq,
        did,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        DISCORD_GUILD_IDS=str(GUILD_ID),
        **extra,
    )


def shown(dc: FakeDiscord, channel: int = TEXT_CHANNEL_ID) -> list[str]:
    """The channel's bot messages as they read now (after edits), videos left out."""
    messages = [dc.message(s.message_id or 0) for s in dc.sent(channel, "message") if not s.files]
    return [m["content"] for m in messages if m]


async def answered(config: Any, key: str) -> bool:
    storage = await open_storage(config.database_url)
    try:
        return await storage.inbox.is_answered("discord", key)
    finally:
        await storage.close()


async def test_a_part_refused_once_is_sent_again_and_the_parts_before_it_are_not(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    groq.reply = "\n\n".join(f"Part {n}. " + "word " * 120 for n in range(10))
    # The reply (streamed), then parts two, three and four: part three meets a 429 longer than
    # the bot waits out (discord.py raises RateLimited at once), so the answer is tried again.
    dc.fail_next(MESSAGES, 429, method="POST", after=2, retry_after=31.0)
    config = settings(tmp_path, groq, did, dc, LLM_MAX_TOKENS=4096)
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} tell me everything")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    texts = shown(dc)
    assert [t.split(".")[0] for t in texts] == ["Part 0", "Part 3", "Part 6", "Part 9"]
    assert "".join(texts).count("Part ") == 10  # every part once


async def test_typing_rate_limited_past_the_wait_costs_not_the_answer(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    # Longer than the bot waits out (MAX_RATELIMIT_TIMEOUT): discord.py raises RateLimited,
    # which is no HTTPException.
    dc.fail_next("/channels/{channel_id}/typing", 429, retry_after=31.0)
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await dc.wait_for(lambda: shown(dc))
    assert shown(dc) == [GROQ_REPLY]


async def test_a_message_discord_fails_to_fetch_after_a_restart_is_kept_for_the_next(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    cut = settings(tmp_path, groq, did, dc, SHUTDOWN_GRACE_SECONDS=0)
    groq.hold()
    async with running_bot(cut):
        await dc.wait_for(lambda: dc.connected)
        asked = await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} still there?")
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    groq.release()
    # The message is there, but Discord answers 503 (not retried by discord.py) to its fetch.
    fetch = f"/channels/{TEXT_CHANNEL_ID}/messages/{asked['id']}"
    dc.fail_next("/channels/{channel_id}/messages/{message_id}", 503, method="GET")
    config = settings(tmp_path, groq, did, dc)
    async with running_bot(config):
        await dc.wait_for(lambda: dc.calls(fetch, "GET"))
    assert not await answered(config, asked["id"])  # not taken for deleted
    async with running_bot(config):
        await dc.wait_for(lambda: shown(dc))
    assert shown(dc) == [GROQ_REPLY]


VOICE = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()


async def test_a_long_transcript_leaves_room_for_the_answer_and_for_a_failure_line(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    channel = dc.add_dm_channel(1234)
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        groq.transcript = "word " * 500  # a few minutes of speech: over Discord's 2000
        await dc.push_voice_message(channel, VOICE, author_id=1234)
        await dc.wait_for(lambda: any(s.files for s in dc.sent(channel, "message")))
        groq.transcript = "word " * 900  # over the 4000 characters the model is asked
        await dc.push_voice_message(channel, VOICE, author_id=1234)
        await dc.wait_for(lambda: len(shown(dc, channel)) == 2)
    answer, failure = shown(dc, channel)
    assert answer.startswith("🎤 *word word") and answer.endswith(f"*\n\n{GROQ_REPLY}")
    assert failure.startswith("🎤 *word") and "⚠️ That's too long for me" in failure
    bodies = [r.json for r in dc.requests if isinstance(r.json, dict)]
    refused = [b for b in bodies if len(b.get("content") or "") > 2000]
    assert not refused  # nothing was sent that Discord refuses


async def test_a_message_its_author_deleted_is_answered_at_once_in_the_channel(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        gate = groq.hold()
        asked = await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        await dc.user_deletes(int(asked["id"]))
        gate.set()
        groq.stop_holding()
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    assert shown(dc) == [GROQ_REPLY]
    posts = dc.calls(f"/channels/{TEXT_CHANNEL_ID}/messages", "POST")
    assert len(posts) == 2  # the answer and its video: no reply Discord refuses first


@pytest.mark.parametrize("is_global", [False, True])
async def test_a_429_with_discord_s_headers_delays_the_answer_and_sends_it_once(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, is_global: bool
) -> None:
    dc.fail_next(MESSAGES, 429, method="POST", retry_after=0.2, is_global=is_global)
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    assert shown(dc) == [GROQ_REPLY]


async def test_a_gateway_resume_while_answering_answers_once(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        gate = groq.hold()
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        await dc.request_reconnect()
        await dc.wait_for(lambda: dc.resumes == 1)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} and again")
        gate.set()
        groq.stop_holding()
        await dc.wait_for(lambda: len([s for s in dc.sent(TEXT_CHANNEL_ID) if s.files]) == 2)
    assert shown(dc) == [GROQ_REPLY, GROQ_REPLY]
    assert len(groq.chat_bodies) == 2


async def test_a_talk_whose_token_ran_out_while_answering_is_answered_in_its_channel(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        gate = groq.hold()
        pushed = await dc.push_interaction("talk", {"text": "hello"})
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        dc.expire_token(pushed.token)  # its 15 minutes end while the answer is written
        gate.set()
        groq.stop_holding()
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    assert shown(dc) == [GROQ_REPLY]  # in the channel, once


async def test_discord_s_503s_for_a_few_seconds_delay_the_answer_but_do_not_lose_it(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    # discord.py retries 500, 502, 504 and 524 itself, not 503 (discord/http.py).
    dc.fail_next(MESSAGES, 503, method="POST", times=6)
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")), 15)
    assert shown(dc) == [GROQ_REPLY]


async def test_a_channel_that_refuses_the_answer_is_not_asked_again_and_again(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        gate = groq.hold()
        asked = await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        await dc.deny(TEXT_CHANNEL_ID, SEND_MESSAGES)  # 403 50013 from now on
        gate.set()
        groq.stop_holding()
        await dc.wait_for(lambda: dc.calls(f"/channels/{TEXT_CHANNEL_ID}/messages", "POST"))
        config = settings(tmp_path, groq, did, dc)
        async with asyncio.timeout(5):
            while not await answered(config, asked["id"]):  # noqa: ASYNC110 (no notification)
                await asyncio.sleep(0.02)
    # Every 403 counts towards Discord's 10,000 invalid requests per 10 minutes, past which the
    # bot's IP is banned (discord.com/developers/docs/topics/rate-limits#invalid-request-limit).
    assert len(dc.calls(f"/channels/{TEXT_CHANNEL_ID}/messages", "POST")) == 1
    assert did.talks == {}


async def test_an_answer_sent_plainly_takes_its_half_streamed_reply_away(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    # Every edit of the streamed reply meets a 429 longer than the bot waits out: the answer
    # goes as a new message, and the reply with its first words must not stay beside it.
    dc.fail_next(
        "/channels/{channel_id}/messages/{message_id}", 429, method="PATCH", retry_after=31.0,
        times=3,
    )  # fmt: skip
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    assert shown(dc) == [GROQ_REPLY]
