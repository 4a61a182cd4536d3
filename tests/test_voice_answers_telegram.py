"""Voice answers on Telegram: python-telegram-bot's sendVoice against the fake Bot API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.types import ConversationKey
from core.voice_answers import INSTEAD
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.groq_speech import ENGLISH
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

ALICE, GROUP = 1001, -100500


def settings(
    tmp_path: Path, groq: FakeGroq, did: FakeDID | None, tg: FakeTelegram, **extra: Any
) -> Any:
    values = {"TTS_ENABLED": True, **extra}
    return settings_for(tmp_path, groq, did, **telegram_at(tg), **values)


def mode(value: str | None) -> Any:
    async def reply_mode(key: ConversationKey) -> str | None:
        return value

    return reply_mode


async def test_voice_mode_sends_an_ogg_opus_voice_note_replying_to_the_answer(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    groq.reply = "Hello there. **Nice** to meet you."
    async with running_bot(settings(tmp_path, groq, None, tg), mode("voice")):
        tg.push_mention(GROUP, "hello", message_thread_id=11)
        (voice,) = await tg.wait_for_sent(GROUP, "sendVoice")
    (answer,) = tg.sent(GROUP, "sendMessage")
    assert (voice.thread_id, voice.reply_to) == (11, answer.message_id)
    assert voice.filename == "answer.ogg" and voice.caption is None
    assert voice.voice is not None and voice.voice[28:36] == b"OpusHead"
    assert int(voice.params["duration"]) >= 2
    (speech,) = groq.speech_bodies()
    assert speech == {
        "model": ENGLISH,
        "voice": "autumn",
        "input": "Hello there. Nice to meet you.",
        "response_format": "wav",
    }


async def test_text_mode_sends_no_voice_note(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    async with running_bot(settings(tmp_path, groq, None, tg), mode("text")):
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendMessage")
        tg.push_text(ALICE, "again")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    assert tg.sent(ALICE, "sendVoice") == [] and groq.speech_bodies() == []


async def test_a_spent_video_budget_sends_a_voice_answer_that_says_why(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    config = settings(tmp_path, groq, did, tg, AVATAR_DAILY_LIMIT_PER_USER=0)
    async with running_bot(config):  # the default mode: a video, D-ID being configured
        tg.push_text(ALICE, "hello")
        (voice,) = await tg.wait_for_sent(ALICE, "sendVoice")
    assert voice.caption is not None
    first, second = voice.caption.splitlines()
    assert first.startswith("🎬 No video this time: your 0 avatar videos for today are used up")
    assert second == INSTEAD
    assert [m.text for m in tg.sent(ALICE, "sendMessage")] == ["You said: hello"]  # no notice
    assert did.calls("/talks", "POST") == [] and tg.sent(ALICE, "sendVideo") == []


async def test_d_id_out_of_credits_is_said_then_a_voice_answer_follows(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    did.credits_remaining = 0
    async with running_bot(settings(tmp_path, groq, did, tg)):
        tg.push_text(ALICE, "hello")
        (voice,) = await tg.wait_for_sent(ALICE, "sendVoice")
        answer, failure = tg.sent(ALICE, "sendMessage")
        assert failure.text is not None and "out of credits" in failure.text
        assert voice.caption == INSTEAD and voice.reply_to == answer.message_id
        tg.push_text(ALICE, "again")  # renders are paused now: told once, voice goes on
        await tg.wait_for_sent(ALICE, "sendVoice", count=2)
    assert len(did.calls("/talks", "POST")) == 1
    assert tg.sent(ALICE, "sendVoice")[1].caption == (
        "🔊 Avatar videos are paused for now: here is a voice answer instead."
    )


async def test_a_group_that_refuses_voice_notes_is_told_once_and_not_retried(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    tg.set_permissions(GROUP, can_send_voice_notes=False)
    async with running_bot(settings(tmp_path, groq, None, tg), mode("voice")):
        tg.push_mention(GROUP, "hello")
        await tg.wait_for_sent(GROUP, "sendMessage", count=2)
        tg.push_mention(GROUP, "again")
        await tg.wait_for_sent(GROUP, "sendMessage", count=3)
    texts = [m.text or "" for m in tg.sent(GROUP, "sendMessage")]
    assert sum("can't send voice notes in this chat" in text for text in texts) == 1
    voice_calls = tg.calls("sendVoice")
    assert len(voice_calls) == 2  # one per answer, none retried


async def test_unaccepted_tts_terms_cost_one_line_after_the_answer(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    groq.terms_required.add(ENGLISH)
    async with running_bot(settings(tmp_path, groq, None, tg), mode("voice")):
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    answer, line = (m.text for m in tg.sent(ALICE, "sendMessage"))
    assert answer == "You said: hello"
    assert line == "🎬 My voice service is misconfigured."
    assert tg.sent(ALICE, "sendVoice") == []


async def test_a_render_d_id_refuses_for_its_content_gets_no_voice_answer(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    did.fail_next("POST /talks", 451)  # moderation: renders go on, this answer has no video
    async with running_bot(settings(tmp_path, groq, did, tg)):
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
        tg.push_text(ALICE, "again")  # the next one gets its video
        await tg.wait_for_sent(ALICE, "sendVideo")
    assert tg.sent(ALICE, "sendVoice") == []


async def test_a_user_whose_privacy_refuses_voice_notes_is_told_once(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    tg.voice_forbidden.add(ALICE)
    async with running_bot(settings(tmp_path, groq, None, tg), mode("voice")):
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
        tg.push_text(ALICE, "again")
        await tg.wait_for_sent(ALICE, "sendMessage", count=3)
        await tg.wait_for(lambda: len(tg.calls("sendVoice")) == 2)
    texts = [m.text for m in tg.sent(ALICE, "sendMessage")]
    assert texts == [
        "You said: hello",
        "🔊 Your privacy settings don't let me send you voice notes.",
        "You said: again",
    ]


async def test_the_fake_takes_ogg_opus_as_a_voice_note_and_other_audio_as_a_document(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    from telegram import Bot

    from core.groq.speech import encode_voice_note
    from tests.fakes.groq_speech import spoken_wav

    wav = spoken_wav("Hello there.")
    ogg = await encode_voice_note(wav)
    tg.push_text(ALICE, "hi")  # the chat exists once its user wrote
    root = tg.base_url
    async with Bot(tg.token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot") as bot:
        note = await bot.send_voice(ALICE, ogg, filename="answer.ogg", duration=1)
        other = await bot.send_voice(ALICE, wav, filename="answer.wav")
    assert note.voice is not None and note.voice.mime_type == "audio/ogg"
    assert other.voice is None and other.document is not None


async def test_reply_voice_is_kept_per_chat_and_brings_voice_notes_after_a_restart(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    config = settings(tmp_path, groq, None, tg)
    async with running_bot(config):  # no injected mode: the chat's own /reply
        tg.push_text(ALICE, "/reply voice")
        await tg.wait_for_sent(ALICE, "sendMessage")
        tg.push_text(ALICE, "hello")
        (voice,) = await tg.wait_for_sent(ALICE, "sendVoice")
    assert voice.voice is not None and voice.voice[28:36] == b"OpusHead"
    async with running_bot(config):
        tg.push_text(ALICE, "again")
        await tg.wait_for_sent(ALICE, "sendVoice", count=2)
        tg.push_text(ALICE, "/reply text")
        tg.push_text(ALICE, "and once more")
        await tg.wait_for_sent(ALICE, "sendMessage", count=5)
    assert len(tg.sent(ALICE, "sendVoice")) == 2


async def test_reply_voice_without_tts_is_refused_in_one_line(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    config = settings(tmp_path, groq, None, tg, TTS_ENABLED=False)
    async with running_bot(config):
        tg.push_text(ALICE, "/reply voice")
        (line,) = await tg.wait_for_sent(ALICE, "sendMessage")
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    assert line.text is not None and "voice" in line.text.lower()
    assert tg.sent(ALICE, "sendVoice") == [] and groq.speech_bodies() == []


async def test_usage_counts_a_voice_answer_today_and_this_month(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    async with running_bot(settings(tmp_path, groq, None, tg), mode("voice")):
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendVoice")
        tg.push_text(ALICE, "/usage")
        usage = (await tg.wait_for_sent(ALICE, "sendMessage", count=2))[-1]
    assert usage.text is not None
    today, month = usage.text.splitlines()
    assert "1 voice answers" in today and "1 voice answers" in month
