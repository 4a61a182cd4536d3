"""Telegram end to end: the wired bot, the real PTB, and fake Telegram, Groq and D-ID servers."""

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import logs
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

VOICE = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()
ALICE, BOB, GROUP = 1001, 1002, -100500
ANSWER = "Hello from **Ava**. Nice to see you."

GROQ_REPLY = ANSWER  # what the fake model answers (tests/conftest.py)


@pytest.fixture
def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram) -> Any:
    return settings_for(tmp_path, groq, did, **telegram_at(tg))


@pytest.fixture
async def bot(settings: Any, tg: FakeTelegram) -> AsyncIterator[None]:
    async with running_bot(settings):
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        yield


def texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [s.text or "" for s in tg.sent(chat, "sendMessage")]


async def test_start_publishes_commands(tg: FakeTelegram, bot: None) -> None:
    assert tg.calls("getMe")
    # The default list, then one per shipped language (tests/test_i18n.py checks those).
    call, *_ = tg.calls("setMyCommands")
    assert "language_code" not in call.params
    names = [c["command"] for c in call.params["commands"]]
    assert names == [
        "start",
        "help",
        "talk",
        "reset",
        "avatar",
        "reply",
        "persona",
        "face",
        "voice",
        "usage",
        "stats",
    ]
    assert all(c["description"] for c in call.params["commands"])


async def test_voice_note_in_private_chat(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    gate, did.hold_renders = groq.hold(), True
    note = tg.push_voice(ALICE, VOICE)
    # A chat action goes out only when the work takes longer than about a second.
    await tg.wait_for(lambda: [s for s in tg.sent(ALICE, "sendChatAction") if s.action == "typing"])
    gate.set()
    await did.wait_for(lambda: len(did.talks) == 1)
    await tg.wait_for(
        lambda: [s for s in tg.sent(ALICE, "sendChatAction") if s.action == "record_video"]
    )
    did.release_all()
    (video,) = await tg.wait_for_sent(ALICE, "sendVideo")
    answer = tg.sent(ALICE, "sendMessage")[-1]
    assert answer.reply_to == note["message"]["message_id"]
    assert answer.parse_mode == "HTML"
    assert answer.text == "🎤 <i>hello there</i>\n\nHello from <b>Ava</b>. Nice to see you."
    shown = tg.message(ALICE, answer.message_id or 0)
    assert shown is not None and shown["text"].startswith("🎤 hello there\n\nHello from Ava.")
    assert video.reply_to == answer.message_id
    assert video.video == did.video
    assert video.supports_streaming is True
    assert video.caption is None  # a reply to the answer: it does not repeat it
    actions = {s.action for s in tg.sent(ALICE, "sendChatAction")}
    assert {"typing", "record_video"} <= actions
    drafts = tg.sent(ALICE, "sendMessageDraft")
    assert drafts and drafts[0].text and drafts[0].text.startswith("🎤 hello there")


async def test_group_answers_only_when_addressed(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    tg.push_text(GROUP, "just chatting", chat_type="group", user_id=BOB)
    tg.push_mention(GROUP, "what is 2+2?", user_id=BOB)
    await tg.wait_for_sent(GROUP, "sendMessage", count=1)
    tg.push_reply_to_bot(GROUP, "and 3+3?", chat_type="group", user_id=ALICE)
    tg.push_text(GROUP, "/talk tell me a joke", chat_type="group", user_id=BOB)
    await tg.wait_for_sent(GROUP, "sendMessage", count=3)
    questions = [body["messages"][-1]["content"] for body in groq.chat_bodies]
    assert questions == ["what is 2+2?", "and 3+3?", "tell me a joke"]
    assert not tg.sent(GROUP, "sendMessageDraft") and not tg.sent(GROUP, "editMessageText")


async def test_topics_keep_their_own_history(tg: FakeTelegram, groq: FakeGroq, bot: None) -> None:
    tg.push_mention(GROUP, "topic one", message_thread_id=11)
    await tg.wait_for_sent(GROUP, "sendMessage", count=1)
    tg.push_mention(GROUP, "topic two", message_thread_id=22)
    await tg.wait_for_sent(GROUP, "sendMessage", count=2)
    tg.push_mention(GROUP, "topic one again", message_thread_id=11)
    await tg.wait_for_sent(GROUP, "sendMessage", count=3)
    prompts = [[m["content"] for m in b["messages"][1:]] for b in groq.chat_bodies]
    assert prompts[1] == ["topic two"]
    assert prompts[2] == ["topic one", groq.reply, "topic one again"]
    assert [s.thread_id for s in tg.sent(GROUP, "sendMessage")] == [11, 22, 11]


async def test_reset_and_avatar_off(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    tg.push_text(ALICE, "/avatar off")
    tg.push_text(ALICE, "remember me")
    tg.push_text(ALICE, "/reset")
    tg.push_text(ALICE, "who am I?")
    await tg.wait_for(lambda: len(groq.chat_bodies) == 2 and len(texts(tg, ALICE)) == 4)
    assert [m["content"] for m in groq.chat_bodies[1]["messages"][1:]] == ["who am I?"]
    assert "Avatar videos are off for this chat." in texts(tg, ALICE)
    assert "Done — I've forgotten our conversation." in texts(tg, ALICE)
    assert did.talks == {} and not tg.sent(ALICE, "sendVideo")


async def test_persona_reply_mode_and_usage(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    tg.push_text(ALICE, "/persona a grumpy wizard who loves puns")
    tg.push_text(ALICE, "/reply text")
    tg.push_text(ALICE, "hello")
    tg.push_text(ALICE, "/reset")
    tg.push_text(ALICE, "again")
    tg.push_text(ALICE, "/usage")
    await tg.wait_for(lambda: len(texts(tg, ALICE)) == 6)
    shown = texts(tg, ALICE)
    assert shown[0] == "Done — from now on my persona here is: a grumpy wizard who loves puns"
    assert shown[1] == "Done — I answer here with text only from now on."
    for body in groq.chat_bodies:  # the persona after SYSTEM_PROMPT, also after /reset
        (system,) = [m["content"] for m in body["messages"] if m["role"] == "system"]
        assert system.endswith("play this persona (everything above still applies): a grumpy "
                               "wizard who loves puns")  # fmt: skip
    assert [m["content"] for m in groq.chat_bodies[1]["messages"][1:]] == ["again"]
    assert did.talks == {} and not tg.sent(ALICE, "sendVideo")  # text only
    today, month = shown[5].splitlines()
    used = f"0 videos (0 s of video), 0 voice answers, {groq.tokens_reported:,} LLM tokens."
    assert today == f"Your usage today (UTC): {used}" and month == f"This month: {used}"
    tg.push_text(ALICE, "/reply video")
    tg.push_text(ALICE, "/persona")
    tg.push_text(ALICE, "and now?")
    await tg.wait_for(lambda: tg.sent(ALICE, "sendVideo"))
    assert texts(tg, ALICE)[7] == "My persona here: a grumpy wizard who loves puns"


async def test_429_in_one_chat_does_not_hold_up_another(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    tg.fail_next("sendMessage", 429, retry_after=2, chat_id=ALICE)
    tg.push_text(ALICE, "first")
    await tg.wait_for(lambda: [c for c in tg.calls("sendMessage") if c.params["chat_id"] == ALICE])
    tg.push_text(BOB, "second")
    await tg.wait_for_sent(BOB, "sendMessage")
    assert not tg.sent(ALICE, "sendMessage")  # Alice's chat is still waiting out its 429
    await tg.wait_for_sent(ALICE, "sendMessage", timeout=10)


async def test_calls_whose_connection_drops_are_sent_again_once(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None, caplog: pytest.LogCaptureFixture
) -> None:
    tg.drop_next("sendMessage")
    tg.drop_next("sendVideo")
    with caplog.at_level(logging.INFO):
        tg.push_text(ALICE, "hello")
        await tg.wait_for_sent(ALICE, "sendVideo", timeout=10)
    assert caplog.text.count("ServerDisconnectedError") >= 2  # both calls were cut
    assert len(tg.sent(ALICE, "sendMessage")) == 1  # the answer, once
    assert len(tg.sent(ALICE, "sendVideo")) == 1
    assert len(tg.calls("sendMessage")) == 1  # the dropped call never reached Telegram


async def test_a_dropped_long_poll_is_polled_again(
    tg: FakeTelegram, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tg.drop_next("getUpdates")  # the bot's first long poll never reaches Telegram
    tg.push_text(ALICE, "still there?")
    with caplog.at_level(logging.WARNING):
        async with running_bot(settings):
            await tg.wait_for_sent(ALICE, "sendMessage", timeout=10)
    assert "getUpdates failed" in caplog.text
    assert len(tg.sent(ALICE, "sendMessage")) == 1


async def test_long_answer_is_split(tg: FakeTelegram, groq: FakeGroq, bot: None) -> None:
    # About 9,000 characters in 600 words: well under the model's output cap in tokens.
    groq.reply = "\n\n".join(f"Paragraph {n}. " + "wordywordywordy " * 60 for n in range(9))
    tg.push_text(ALICE, "tell me everything")
    await tg.wait_for(lambda: len(tg.sent(ALICE, "sendVideo")) == 1)
    parts = texts(tg, ALICE)
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert parts[1].startswith("Paragraph ")  # cut at a paragraph boundary


async def test_refused_formatting_goes_again_as_plain_text(tg: FakeTelegram, bot: None) -> None:
    tg.fail_next("sendMessage", 400, description="Bad Request: can't parse entities: oops")
    tg.push_text(ALICE, "hi")
    await tg.wait_for_sent(ALICE, "sendVideo")
    assert texts(tg, ALICE) == ["Hello from **Ava**. Nice to see you."]
    assert tg.sent(ALICE, "sendMessage")[0].parse_mode is None


async def test_too_large_and_corrupt_voice_notes(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    tg.push_voice(ALICE, VOICE, file_size=30 * 1024 * 1024)
    await tg.wait_for_sent(ALICE, "sendMessage")
    tg.push_voice(ALICE, b"not audio at all" * 10)
    await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    too_big, corrupt = texts(tg, ALICE)
    assert "too big for me" in too_big
    assert "couldn't read that audio file" in corrupt
    assert not groq.calls("/audio/transcriptions") and not tg.calls("getFile")[1:]


async def test_audio_files_and_round_videos(tg: FakeTelegram, groq: FakeGroq, bot: None) -> None:
    mp4 = (Path(__file__).parent / "data" / "avatar.mp4").read_bytes()
    tg.push_video_note(ALICE, mp4)
    tg.push_document(ALICE, VOICE, mime="audio/ogg", file_name="memo.ogg")
    tg.push_document(ALICE, b"%PDF-1.4", mime="application/pdf", file_name="cv.pdf")
    await tg.wait_for(lambda: len(texts(tg, ALICE)) == 3)
    uploads = [c.file for c in groq.calls("/audio/transcriptions")]
    assert [u.content_type for u in uploads if u] == ["audio/mp4", "audio/ogg"]
    assert "I understand text and voice messages" in texts(tg, ALICE)[-1]


async def test_blocked_user_ends_the_job_quietly(
    tg: FakeTelegram, did: FakeDID, bot: None, settings: Any
) -> None:
    did.hold_renders = True
    tg.push_text(ALICE, "hi")
    await did.wait_for(lambda: len(did.talks) == 1)
    tg.block(ALICE)
    did.release_all()
    await tg.wait_for(lambda: any(c.params.get("chat_id") == ALICE for c in tg.calls("sendVideo")))
    assert not tg.sent(ALICE, "sendVideo")


async def test_no_token_in_logs(tg: FakeTelegram, settings: Any) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("DEBUG", settings.secrets(), stream)
    try:
        async with running_bot(settings):
            tg.fail_next("sendMessage", 500)
            tg.fail_next("getFile", 401)
            tg.push_voice(ALICE, VOICE)
            tg.push_voice(ALICE, VOICE)
            await tg.wait_for_sent(ALICE, "sendVideo")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = stream.getvalue()
    assert "DEBUG" in logged and "retrying" in logged
    assert tg.token not in logged


async def test_slow_answer_in_one_chat_does_not_hold_up_another(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    gate = groq.hold()
    tg.push_text(ALICE, "slow one")
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    groq._hold = None  # only Alice's answer is held
    tg.push_text(BOB, "quick one")
    await tg.wait_for_sent(BOB, "sendMessage")
    assert not tg.sent(ALICE, "sendMessage")
    gate.set()
    await tg.wait_for_sent(ALICE, "sendMessage")


async def test_talk_as_a_reply_to_a_voice_note(tg: FakeTelegram, groq: FakeGroq, bot: None) -> None:
    note = tg.push_voice(GROUP, VOICE, chat_type="group", user_id=BOB)
    tg.push_text(
        GROUP, "/talk", chat_type="group", reply_to_message_id=note["message"]["message_id"]
    )
    (answer,) = await tg.wait_for_sent(GROUP, "sendMessage")
    assert (answer.text or "").startswith("🎤 <i>hello there</i>")
    assert len(groq.calls("/audio/transcriptions")) == 1


async def test_video_over_the_upload_limit_gets_a_note(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    settings = settings_for(
        tmp_path,
        groq,
        did,
        **telegram_at(tg),
        TELEGRAM_UPLOAD_LIMIT_MB=0.001,
    )
    async with running_bot(settings):
        tg.push_text(ALICE, "hi")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    assert "over Telegram's 0 MB limit" in texts(tg, ALICE)[-1]
    assert not tg.sent(ALICE, "sendVideo")
