"""Discord end to end: the wired bot and the real discord.py against fake Discord, Groq and D-ID."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.storage import open_storage
from tests.fakes.did import FakeDID
from tests.fakes.discord import (
    GUILD_ID,
    TEXT_CHANNEL_ID,
    THREAD_ID,
    USER_ID,
    AttachmentSpec,
    FakeDiscord,
)
from tests.fakes.groq import FakeGroq
from tests.harness import running_bot, settings_for

VOICE = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()
ANSWER = "Hello from Ava. Nice to see you."

GROQ_REPLY = ANSWER  # what the fake model answers (tests/conftest.py)


def discord_settings(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, **extra: Any
) -> Any:
    """Settings that point the bot at the fake Discord (and the other fakes)."""
    return settings_for(
        tmp_path,
        groq,
        did,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord) -> Any:
    return discord_settings(tmp_path, groq, did, dc, DISCORD_GUILD_IDS=str(GUILD_ID))


@pytest.fixture
async def bot(settings: Any, dc: FakeDiscord) -> AsyncIterator[None]:
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        yield


def contents(dc: FakeDiscord, channel: int, kind: str = "message") -> list[str]:
    return [s.content or "" for s in dc.sent(channel, kind)]


async def test_command_tree_registered_on_start(dc: FakeDiscord, bot: None) -> None:
    names = sorted(c["name"] for c in dc.commands[GUILD_ID])
    assert names == [
        "avatar",
        "face",
        "help",
        "persona",
        "reply",
        "reset",
        "stats",
        "talk",
        "usage",
        "voice",
    ]
    (talk,) = [c for c in dc.commands[GUILD_ID] if c["name"] == "talk"]
    assert {o["name"]: o["type"] for o in talk["options"]} == {"text": 3, "audio": 11}
    assert dc.identify is not None
    assert not dc.identify["intents"] & (1 << 15)  # no Message Content intent by default


async def test_talk_with_text_defers_edits_then_sends_the_video(
    dc: FakeDiscord, did: FakeDID, bot: None
) -> None:
    pushed = await dc.push_interaction("talk", {"text": "hi there"})
    await dc.wait_for(
        lambda: any(r.kind == "followup" for r in dc.interaction_responses(pushed.id))
    )
    responses = dc.interaction_responses(pushed.id)
    assert responses[0].kind == "callback" and responses[0].response_type == 5  # deferred
    edits = [r for r in responses if r.kind == "edit_original"]
    assert edits[-1].content == ANSWER
    (video,) = [r for r in responses if r.kind == "followup"]
    assert video.files[0].data == did.video
    assert video.files[0].filename.endswith(".mp4")
    assert not video.content  # the answer is in the edit above: the video does not repeat it


async def test_talk_with_an_audio_attachment(dc: FakeDiscord, groq: FakeGroq, bot: None) -> None:
    audio = AttachmentSpec("question.ogg", VOICE, "audio/ogg")
    pushed = await dc.push_interaction("talk", {"audio": audio})
    await dc.wait_for(
        lambda: any(r.kind == "followup" for r in dc.interaction_responses(pushed.id))
    )
    edits = [r for r in dc.interaction_responses(pushed.id) if r.kind == "edit_original"]
    assert (edits[-1].content or "").startswith("🎤 *hello there*\n\n" + ANSWER)
    upload = groq.calls("/audio/transcriptions")[0].file
    assert upload is not None and upload.content_type == "audio/ogg"


async def test_mention_in_a_channel_gets_a_reply_then_the_video(
    dc: FakeDiscord, groq: FakeGroq, bot: None
) -> None:
    asked = await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} what's up?")
    await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    messages = dc.sent(TEXT_CHANNEL_ID, "message")
    answer, video = messages[0], messages[-1]
    assert answer.message_reference and str(answer.message_reference["message_id"]) == asked["id"]
    final = dc.message(answer.message_id or 0)
    assert final is not None and final["content"] == ANSWER
    assert video.message_reference
    assert str(video.message_reference["message_id"]) == str(answer.message_id)
    assert groq.chat_bodies[0]["messages"][-1]["content"] == "what's up?"
    assert dc.sent(TEXT_CHANNEL_ID, "typing")


async def test_other_chatter_and_bots_are_ignored(
    dc: FakeDiscord, groq: FakeGroq, bot: None
) -> None:
    await dc.push_message(TEXT_CHANNEL_ID, "just talking among ourselves")
    dc.add_user(4242, "otherbot", bot=True)
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} ping", author_id=4242)
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} real question")
    await dc.wait_for(lambda: len(groq.chat_bodies) == 1)
    await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    assert [b["messages"][-1]["content"] for b in groq.chat_bodies] == ["real question"]


async def test_voice_message_in_a_dm(dc: FakeDiscord, groq: FakeGroq, bot: None) -> None:
    channel = dc.add_dm_channel(USER_ID)
    await dc.push_voice_message(channel, VOICE)
    await dc.wait_for(lambda: any(s.files for s in dc.sent(channel, "message")))
    answer = dc.message(dc.sent(channel, "message")[0].message_id or 0)
    assert answer is not None and answer["content"].startswith("🎤 *hello there*")


async def test_thread_keeps_its_own_history(dc: FakeDiscord, groq: FakeGroq, bot: None) -> None:
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} in the channel")
    await dc.wait_for(lambda: len(groq.chat_bodies) == 1)
    await dc.push_message(THREAD_ID, f"{dc.bot_mention} in the thread")
    await dc.wait_for(lambda: len(groq.chat_bodies) == 2)
    assert [m["content"] for m in groq.chat_bodies[1]["messages"][1:]] == ["in the thread"]


async def test_everyone_in_the_answer_pings_nobody(
    dc: FakeDiscord, groq: FakeGroq, bot: None
) -> None:
    groq.reply = "@everyone look at this <@&123> and <@999>"
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} say it")
    await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    for sent in dc.sent(TEXT_CHANNEL_ID):
        if sent.kind in ("message", "edit"):
            mentions = sent.allowed_mentions or {}
            assert mentions.get("parse") == [] and not mentions.get("users")
            assert not mentions.get("roles")


async def test_long_answer_is_split(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    groq.reply = "\n\n".join(f"Part {n}. " + "word " * 120 for n in range(10))
    # The answer is over LLM_MAX_TOKENS' default, which would cut it short.
    async with running_bot(discord_settings(tmp_path, groq, did, dc, LLM_MAX_TOKENS=4096)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} tell me everything")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    shown = [dc.message(s.message_id or 0) for s in dc.sent(TEXT_CHANNEL_ID, "message")[:-1]]
    texts = [message["content"] for message in shown if message]
    assert len(texts) == 4 and all(len(t) <= 2000 for t in texts)
    assert texts[1].startswith("Part ")


async def test_a_429_on_rest_is_survived(dc: FakeDiscord, groq: FakeGroq, bot: None) -> None:
    dc.fail_next("/channels/{channel_id}/messages", 429, retry_after=0.05)
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
    await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    assert dc.message(dc.sent(TEXT_CHANNEL_ID, "message")[0].message_id or 0)


async def test_reset_and_avatar_off(
    dc: FakeDiscord, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    off = await dc.push_interaction("avatar", {"state": "off"})
    await dc.wait_for(lambda: dc.interaction_responses(off.id))
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} first")
    await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    reset = await dc.push_interaction("reset")
    await dc.wait_for(lambda: dc.interaction_responses(reset.id))
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} second")
    await dc.wait_for(lambda: len(groq.chat_bodies) == 2)
    assert [m["content"] for m in groq.chat_bodies[1]["messages"][1:]] == ["second"]
    assert did.talks == {}
    assert dc.interaction_responses(off.id)[0].content == "Avatar videos are off for this chat."


async def test_persona_reply_and_usage_slash_commands(
    dc: FakeDiscord, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    (reply,) = [c for c in dc.commands[GUILD_ID] if c["name"] == "reply"]
    (mode,) = reply["options"]
    assert mode["name"] == "mode" and not mode.get("required")
    assert [c["value"] for c in mode["choices"]] == ["video", "voice", "text"]
    with pytest.raises(ValueError, match="not one of"):
        await dc.push_interaction("reply", {"mode": "loud"})  # Discord offers the choices only
    persona = await dc.push_interaction("persona", {"persona": "a retired astronaut"})
    await dc.wait_for(lambda: dc.interaction_responses(persona.id))
    text = await dc.push_interaction("reply", {"mode": "text"})
    await dc.wait_for(lambda: dc.interaction_responses(text.id))
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
    await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    usage = await dc.push_interaction("usage")
    await dc.wait_for(lambda: dc.interaction_responses(usage.id))
    assert dc.interaction_responses(persona.id)[0].content == (
        "Done — from now on my persona here is: a retired astronaut"
    )
    system = groq.chat_bodies[0]["messages"][0]["content"]
    assert system.endswith("a retired astronaut")
    assert did.talks == {}  # /reply text: no video
    (shown,) = dc.interaction_responses(usage.id)
    assert shown.flags & 64  # EPHEMERAL: only the user sees their usage
    assert f"{groq.tokens_reported:,} LLM tokens" in (shown.content or "")
    help_ = await dc.push_interaction("help")
    await dc.wait_for(lambda: dc.interaction_responses(help_.id))
    listed = dc.interaction_responses(help_.id)[0].content or ""
    assert all(f"/{name}" in listed for name in ("persona", "reply", "usage", "reset"))


async def test_video_after_the_token_expired_goes_to_the_channel(
    dc: FakeDiscord, did: FakeDID, bot: None
) -> None:
    did.hold_renders = True
    pushed = await dc.push_interaction("talk", {"text": "hi"})
    await did.wait_for(lambda: len(did.talks) == 1)
    dc.expire_token(pushed.token)
    did.release_all()
    await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    video = [s for s in dc.sent(TEXT_CHANNEL_ID, "message") if s.files][0]
    assert video.message_reference and video.message_reference["fail_if_not_exists"] is False
    assert not video.content  # a reply to the answer, which it does not repeat


async def test_bad_attachments_get_a_clear_line(dc: FakeDiscord, groq: FakeGroq, bot: None) -> None:
    pdf = AttachmentSpec("cv.pdf", b"%PDF-1.4 not audio", "application/pdf")
    pushed = await dc.push_interaction("talk", {"audio": pdf})
    corrupt = AttachmentSpec("note.ogg", b"garbage bytes, not audio", "audio/ogg")
    second = await dc.push_interaction("talk", {"audio": corrupt})
    empty = await dc.push_interaction("talk")

    def final(interaction_id: int) -> str:
        edits = [r for r in dc.interaction_responses(interaction_id) if r.kind == "edit_original"]
        return edits[-1].content or "" if edits else ""

    await dc.wait_for(lambda: all(final(i.id) for i in (pushed, second, empty)))
    assert final(pushed.id) == "⚠️ That attachment isn't audio — send a voice or audio file."
    assert "couldn't read that audio file" in final(second.id)
    assert final(empty.id) == "⚠️ Give me some `text` or an `audio` file to answer."
    assert groq.chat_bodies == []


async def test_video_over_the_upload_limit_gets_a_note(
    dc: FakeDiscord, did: FakeDID, bot: None
) -> None:
    dc.upload_limit = 1000  # smaller than the rendered MP4
    pushed = await dc.push_interaction("talk", {"text": "hi"})
    await dc.wait_for(
        lambda: any(r.kind == "followup" for r in dc.interaction_responses(pushed.id))
    )
    (note,) = [r for r in dc.interaction_responses(pushed.id) if r.kind == "followup"]
    assert not note.files
    assert "over this place's 0 MB limit" in (note.content or "")


async def test_missing_permissions_do_not_stop_the_bot(
    dc: FakeDiscord, groq: FakeGroq, bot: None
) -> None:
    dc.forbid(TEXT_CHANNEL_ID)
    await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello?")
    await dc.wait_for(lambda: dc.calls(f"/channels/{TEXT_CHANNEL_ID}/typing"))
    await dc.push_message(THREAD_ID, f"{dc.bot_mention} still there?")
    await dc.wait_for(lambda: any(s.files for s in dc.sent(THREAD_ID, "message")))
    assert not dc.sent(TEXT_CHANNEL_ID, "message")


async def test_voice_messages_in_listed_channels_with_message_content(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    settings = discord_settings(
        tmp_path,
        groq,
        did,
        dc,
        DISCORD_MESSAGE_CONTENT=True,
        DISCORD_VOICE_CHANNEL_IDS=str(TEXT_CHANNEL_ID),
    )
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected)
        assert dc.identify is not None and dc.identify["intents"] & (1 << 15)
        await dc.push_voice_message(THREAD_ID, VOICE)  # not a listed channel: ignored
        await dc.push_voice_message(TEXT_CHANNEL_ID, VOICE)
        await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    assert len(groq.calls("/audio/transcriptions")) == 1
    assert not dc.sent(THREAD_ID, "message")


async def test_overlong_voice_message_is_declined_before_download(
    dc: FakeDiscord, groq: FakeGroq, bot: None
) -> None:
    channel = dc.add_dm_channel(USER_ID)
    await dc.push_voice_message(channel, VOICE, duration_secs=3600)
    await dc.wait_for(lambda: dc.sent(channel, "message"))
    reply = dc.message(dc.sent(channel, "message")[0].message_id or 0)
    assert reply is not None and "too long for me" in reply["content"]
    assert not dc.calls("voice-message.ogg", "GET")


async def test_video_quota_is_per_user_and_said(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    settings = discord_settings(tmp_path, groq, did, dc, AVATAR_DAILY_LIMIT_PER_USER=1)
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} one")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} two")
        await dc.wait_for(lambda: len(dc.sent(TEXT_CHANNEL_ID, "message")) >= 4)
        dc.add_user(USER_ID + 7, "someone")
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} three", author_id=USER_ID + 7)
        await dc.wait_for(
            lambda: sum(bool(s.files) for s in dc.sent(TEXT_CHANNEL_ID, "message")) == 2
        )
    notes = [s.content or "" for s in dc.sent(TEXT_CHANNEL_ID, "message") if not s.files]
    assert any(n.startswith("🎬 No video this time: your 1 avatar videos") for n in notes)


async def test_sharded_replica_runs_only_its_shards(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    home_shard = (GUILD_ID >> 22) % 2  # Discord routes a guild to shard (id >> 22) % count
    settings = discord_settings(
        tmp_path, groq, did, dc, DISCORD_SHARD_COUNT=2, DISCORD_SHARD_IDS=str(home_shard)
    )
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected and dc.identify is not None)
        assert dc.identify is not None and dc.identify["shard"] == [home_shard, 2]
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello shard")
        await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))


async def test_a_cut_talk_whose_token_ran_out_is_dropped_not_answered(
    settings: Any, dc: FakeDiscord, groq: FakeGroq
) -> None:
    stale = {
        "chat_id": str(TEXT_CHANNEL_ID),
        "thread_id": "",
        "user_id": "42",
        "text": "are you there?",
        "target": {
            "channel_id": TEXT_CHANNEL_ID,
            "message_id": 0,
            "application_id": 1,
            "token": "expired-token",
            "expires_at": time.time() - 1,  # the interaction's 15 minutes are over
        },
    }
    storage = await open_storage(settings.database_url)
    try:
        await storage.inbox.record("discord", "talk-1", json.dumps({"talk": stale}))
        await storage.inbox.release()
    finally:
        await storage.close()
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected)
        storage = await open_storage(settings.database_url)
        try:
            async with asyncio.timeout(5):
                # The inbox has no change notification: poll it, within the deadline.
                while not await storage.inbox.is_answered("discord", "talk-1"):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        finally:
            await storage.close()
    assert groq.chat_bodies == []
    assert not [r for r in dc.requests if "/webhooks/" in r.path]  # the token is not used


async def answered(settings: Any, key: str) -> None:
    storage = await open_storage(settings.database_url)
    try:
        async with asyncio.timeout(5):
            # The inbox has no change notification: poll it, within the deadline.
            while not await storage.inbox.is_answered("discord", key):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await storage.close()


async def test_an_audio_talk_cut_by_a_stop_is_asked_again_in_its_response(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    config = discord_settings(
        tmp_path, groq, did, dc, DISCORD_GUILD_IDS=str(GUILD_ID), SHUTDOWN_GRACE_SECONDS=0
    )
    groq.hold()
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        audio = AttachmentSpec("question.ogg", VOICE, "audio/ogg")
        pushed = await dc.push_interaction("talk", {"audio": audio})
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    groq.release()

    def edits() -> list[str]:
        responses = dc.interaction_responses(pushed.id)
        return [r.content or "" for r in responses if r.kind == "edit_original"]

    async with running_bot(config):
        await dc.wait_for(lambda: edits())
        await answered(config, f"talk-{pushed.id}")
    restarted = "⚠️ I was restarted before I could answer that — please send it again."
    assert edits() == [restarted]  # the file's signed URL was not kept
    assert len(groq.calls("/audio/transcriptions")) == 1 and did.talks == {}


async def test_a_message_deleted_while_the_bot_was_down_is_not_answered(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    config = discord_settings(tmp_path, groq, did, dc, SHUTDOWN_GRACE_SECONDS=0)
    groq.hold()
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected)
        asked = await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} never mind")
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    groq.release()
    dc.fail_next("/channels/{channel_id}/messages/{message_id}", 404, method="GET", code=10008)
    async with running_bot(config):
        await answered(config, asked["id"])
    assert dc.calls(f"/channels/{TEXT_CHANNEL_ID}/messages/{asked['id']}", "GET")
    assert not dc.sent(TEXT_CHANNEL_ID, "message") and len(groq.chat_bodies) == 1
