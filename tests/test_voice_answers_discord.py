"""Voice answers on Discord: discord.py uploads `answer.ogg` against the fake Discord."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.types import ConversationKey
from core.voice_answers import INSTEAD
from tests.fakes.did import FakeDID
from tests.fakes.discord import GUILD_ID, TEXT_CHANNEL_ID, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.harness import running_bot, settings_for


def settings(
    tmp_path: Path, groq: FakeGroq, did: FakeDID | None, dc: FakeDiscord, **extra: Any
) -> Any:
    return settings_for(
        tmp_path,
        groq,
        did,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        DISCORD_GUILD_IDS=str(GUILD_ID),
        TTS_ENABLED=True,
        **extra,
    )


async def voice_mode(key: ConversationKey) -> str | None:
    return "voice"


async def test_a_mention_gets_the_answer_then_its_voice_note_as_a_reply(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, None, dc), voice_mode):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} what's up?")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    answer, voice = dc.sent(TEXT_CHANNEL_ID, "message")
    ((upload,),) = [voice.files]
    assert upload.filename == "answer.ogg" and upload.data[28:36] == b"OpusHead"
    assert voice.message_reference is not None
    assert str(voice.message_reference["message_id"]) == str(answer.message_id)
    assert voice.content in (None, "")
    assert len(groq.speech_bodies()) == 1


async def test_talk_gets_its_voice_note_as_a_follow_up(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, None, dc), voice_mode):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        pushed = await dc.push_interaction("talk", {"text": "hi there"})
        await dc.wait_for(
            lambda: any(r.kind == "followup" for r in dc.interaction_responses(pushed.id))
        )
    (followup,) = [r for r in dc.interaction_responses(pushed.id) if r.kind == "followup"]
    assert [f.filename for f in followup.files] == ["answer.ogg"]


async def test_a_spent_video_budget_posts_the_voice_note_with_why(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    config = settings(tmp_path, groq, did, dc, AVATAR_DAILY_LIMIT_PER_USER=0)
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")))
    voice = next(s for s in dc.sent(TEXT_CHANNEL_ID, "message") if s.files)
    assert voice.files[0].filename == "answer.ogg"
    assert (voice.content or "").startswith("🎬 No video this time: your 0 avatar videos")
    assert (voice.content or "").endswith(INSTEAD)
    assert did.calls("/talks", "POST") == []
