"""Conversations through the terminal chat and the real core, against fake Groq and fake D-ID."""

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

import pytest

from core.types import ConversationKey, FinalText, Turn
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal

DATA = Path(__file__).parent / "data"
VOICE = DATA / "voice.ogg"

GROQ_REPLY = "Hi! I am Ava. Nice to meet you."  # what the fake model answers (tests/conftest.py)


async def test_voice_note_gives_transcript_streamed_answer_then_video(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.transcript = "What's your name?"
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, _):
        await chat.handle(f"/voice {VOICE}")
        await screen.wait_for("avatar video ready")
    lines = screen.text.splitlines()
    heard = lines.index("🎤 What's your name?")
    assert lines.index("Hi! I am Ava. Nice to meet you.") > heard
    upload = groq.calls("/audio/transcriptions")[0]
    assert upload.form is not None and upload.form["model"] == "whisper-large-v3-turbo"
    assert upload.file is not None
    assert upload.file.content_type == "audio/ogg"  # sent as it is, no conversion
    assert upload.file.size == VOICE.stat().st_size
    video = Path(screen.text.split("avatar video ready: ")[1].split()[0])
    assert video.read_bytes() == did.video
    assert video.parent == tmp_path / "data" / "media"
    (talk,) = did.talks.values()
    assert talk.request["script"]["input"] == "Hi! I am Ava. Nice to meet you."


async def test_answer_streams_in_pieces(tmp_path: Path, groq: FakeGroq) -> None:
    async with terminal(settings_for(tmp_path, groq, None)) as (_, _, core):
        turn = Turn(ConversationKey("test", "1"), "u", text="hello")
        events = [event async for event in core.conversations.handle(turn)]
    kinds = [type(event).__name__ for event in events]
    assert kinds.count("TextDelta") >= 3
    assert kinds[-1] == "FinalText"
    assert events[-2].text == "Hi! I am Ava. Nice to meet you."  # type: ignore[union-attr]


async def test_history_carries_over_turns_and_restarts_and_reset_forgets(
    tmp_path: Path, groq: FakeGroq
) -> None:
    groq.reply = "Noted."
    settings = settings_for(tmp_path, groq, None, SYSTEM_PROMPT="You are a test persona.")
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("My name is Ada.")
    async with terminal(settings) as (chat, screen, _):  # a restart
        await chat.handle("What is my name?")
        await chat.handle("/reset")
        await chat.handle("Fresh start.")
    first, second, third = (body["messages"] for body in groq.chat_bodies)
    assert first == [
        {"role": "system", "content": "You are a test persona."},
        {"role": "user", "content": "My name is Ada."},
    ]
    assert [m["content"] for m in second] == [
        "You are a test persona.",
        "My name is Ada.",
        "Noted.",
        "What is my name?",
    ]
    assert [m["content"] for m in third] == ["You are a test persona.", "Fresh start."]
    assert "Done — I've forgotten our conversation." in screen.text


async def test_terminal_commands_persona_named_and_usage(tmp_path: Path, groq: FakeGroq) -> None:
    personas = '{"Pirate": "You are a cheerful pirate."}'
    settings = settings_for(tmp_path, groq, None, PERSONAS=personas)
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("/persona pirate")
        await chat.handle("Ahoy")
    async with terminal(settings) as (chat, screen, _):  # kept across a restart
        await chat.handle("/help")
        await chat.handle("/persona")
        await chat.handle("/usage")
        await chat.handle("/frobnicate")
    (system, *_) = groq.chat_bodies[0]["messages"]
    assert system["content"].startswith(settings.SYSTEM_PROMPT)
    assert system["content"].endswith("You are a cheerful pirate.")
    assert "/voice PATH sends an audio file" in screen.text and "/persona" in screen.text
    assert "/voice [name|number|reset] — My voice in this chat" in screen.text
    assert "My persona here is “pirate”: You are a cheerful pirate." in screen.text
    assert f"{groq.tokens_reported:,} LLM tokens" in screen.text
    assert "I don't know that command. /help lists what I understand." in screen.text


async def test_history_window_is_bounded(tmp_path: Path, groq: FakeGroq) -> None:
    settings = settings_for(tmp_path, groq, None, HISTORY_MAX_MESSAGES=2)
    async with terminal(settings) as (chat, _, _):
        for n in range(4):
            await chat.handle(f"message {n}")
    last = groq.chat_bodies[-1]["messages"]
    assert [m["content"] for m in last[1:]] == ["message 2", groq.reply, "message 3"]


async def test_avatar_off_sends_text_only_and_survives_restart(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("/avatar off")
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("Hello")
        assert "Nice to meet you" in screen.text
        assert "rendering" not in screen.text
        await chat.handle("/avatar on")
        await chat.handle("Hello again")
        await screen.wait_for("avatar video ready")
    assert len(did.talks) == 1


async def test_without_a_did_key_answers_are_text_only(tmp_path: Path, groq: FakeGroq) -> None:
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, core):
        await chat.handle("Hello")
        await chat.handle("/avatar on")
        assert core.jobs is None
    assert "Nice to meet you" in screen.text
    assert "Avatar videos aren't set up on this bot." in screen.text


async def test_other_audio_formats_are_converted_first(tmp_path: Path, groq: FakeGroq) -> None:
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, _):
        await chat.handle(f"/voice {DATA / 'voice.aiff'}")
    upload = groq.calls("/audio/transcriptions")[0].file
    assert upload is not None and upload.content_type == "audio/ogg"
    assert upload.head.startswith(b"OggS")
    assert "🎤 hello there" in screen.text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "That voice message is empty"),
        (b"this is not audio at all" * 50, "couldn't read that audio file"),
    ],
)
async def test_bad_audio_gets_a_friendly_line(
    tmp_path: Path, groq: FakeGroq, content: bytes, expected: str
) -> None:
    path = tmp_path / "note.ogg"
    path.write_bytes(content)
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, _):
        await chat.handle(f"/voice {path}")
    assert expected in screen.text
    assert "Traceback" not in screen.text


async def test_audio_whisper_cannot_decode(tmp_path: Path, groq: FakeGroq) -> None:
    # A truncated OGG passes the magic-byte check; Groq itself then refuses it with a 400.
    body = {"error": {"message": "could not process file - is it a valid media file?"}}
    groq.fail_next("audio/transcriptions", 400, body=body | {"type": "invalid_request_error"})
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, _):
        await chat.handle(f"/voice {VOICE}")
    assert "I couldn't hear anything in that — is it a voice recording?" in screen.text
    assert groq.chat_bodies == []


async def test_silence_and_too_large_audio(tmp_path: Path, groq: FakeGroq) -> None:
    groq.transcript = "   "
    big = tmp_path / "big.ogg"
    big.write_bytes(b"OggS" + b"\x00" * (25 * 1024 * 1024))
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, _):
        await chat.handle(f"/voice {VOICE}")
        await chat.handle(f"/voice {big}")
    assert "I couldn't hear anything in that voice message." in screen.text
    assert "too large for me (the limit is 25 MB)" in screen.text
    assert len(groq.calls("/audio/transcriptions")) == 1  # the big file never left


async def test_empty_and_overlong_text(tmp_path: Path, groq: FakeGroq) -> None:
    async with terminal(settings_for(tmp_path, groq, None, MAX_MESSAGE_CHARS=50)) as (_, _, core):
        key = ConversationKey("test", "1")
        blank = [e async for e in core.conversations.handle(Turn(key, "u", text=" \n "))]
        long = [e async for e in core.conversations.handle(Turn(key, "u", text="x" * 51))]
    assert "Send me a message" in blank[0].message  # type: ignore[union-attr]
    assert "under 50 characters" in long[0].message  # type: ignore[union-attr]
    assert groq.chat_bodies == []


async def test_groq_429_and_5xx_are_retried(tmp_path: Path, groq: FakeGroq) -> None:
    groq.fail_next("chat/completions", 429, headers={"retry-after": "0"})
    groq.fail_next("chat/completions", 503)
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, _):
        await chat.handle("Hello")
    assert "Nice to meet you" in screen.text
    assert len(groq.calls("/chat/completions")) == 3


async def test_groq_outage_is_one_short_line(tmp_path: Path, groq: FakeGroq) -> None:
    groq.fail_next("chat/completions", 500, times=10)
    async with terminal(settings_for(tmp_path, groq, None, GROQ_MAX_RETRIES=1)) as (
        chat,
        screen,
        _,
    ):
        await chat.handle("Hello")
    assert screen.text.splitlines()[-1] == (
        "⚠️  My answering service isn't answering right now — please try again shortly."
    )


async def test_groq_timeout_is_retried_then_explained(tmp_path: Path, groq: FakeGroq) -> None:
    groq.delay_next("chat/completions", 2.0)
    settings = settings_for(tmp_path, groq, None, GROQ_TIMEOUT_SECONDS=0.2, GROQ_MAX_RETRIES=1)
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("Hello")
    assert "Nice to meet you" in screen.text  # the retry got through
    assert len(groq.calls("/chat/completions")) == 2


@pytest.mark.parametrize(
    "cut",
    [
        lambda groq: groq.fail_stream_next(after_chunks=2),  # an error event in the stream
        lambda groq: groq.drop_stream_next(after_chunks=2),  # the connection closes
    ],
    ids=["error-event", "connection-cut"],
)
async def test_an_answer_broken_mid_stream_is_explained(
    tmp_path: Path, groq: FakeGroq, cut: Callable[[FakeGroq], None]
) -> None:
    cut(groq)
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, core):
        await chat.handle("Hello")
        assert (
            await core.conversations._history.recent(ConversationKey("terminal", "local"), 9) == []
        )
        await chat.handle("Hello again")  # the next turn goes through
    assert "isn't answering right now" in screen.text
    assert "Nice to meet you" in screen.text


async def test_wrong_groq_key_is_named_in_the_log_not_to_the_user(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, groq, None, GROQ_API_KEY="gsk_wrong_key_1234")
    with caplog.at_level(logging.INFO):
        async with terminal(settings) as (chat, screen, _):
            await chat.handle("Hello")
    assert "My answering service is misconfigured." in screen.text
    assert "GROQ_API_KEY" not in screen.text
    assert "Groq refused GROQ_API_KEY" in caplog.text


async def test_retired_model_names_llm_model(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, groq, None, LLM_MODEL="llama3-8b-8192")
    with caplog.at_level(logging.INFO):
        async with terminal(settings) as (chat, screen, _):
            await chat.handle("Hello")
    assert "misconfigured" in screen.text
    assert "LLM_MODEL names a model Groq does not serve" in caplog.text


async def test_reasoning_is_kept_out_of_the_answer(tmp_path: Path, groq: FakeGroq) -> None:
    groq.reasoning = "SECRET THOUGHTS"
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, _):
        await chat.handle("Hello")
    body = groq.chat_bodies[0]
    assert body["model"] == "openai/gpt-oss-20b"
    assert body["include_reasoning"] is False
    assert body["reasoning_effort"] == "low"
    assert "SECRET" not in screen.text


async def test_did_out_of_credits_still_answers_in_text(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    did.credits_remaining = 0
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, _):
        await chat.handle("Hello")
        await screen.wait_for("out of credits")
    assert "Hi! I am Ava." in screen.text
    assert screen.text.index("Hi! I am Ava.") < screen.text.index("out of credits")


async def test_failed_render_tells_the_user_once(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    did.next_outcome("error", kind="FaceError", description="no face found")
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, core):
        await chat.handle("Hello")
        await screen.wait_for("couldn't be made")
        assert await core.jobs._store.unfinished() == []  # type: ignore[union-attr]
    assert screen.text.count("🎬") == 1


async def test_turns_of_one_conversation_run_in_order_others_do_not_wait(
    tmp_path: Path, groq: FakeGroq
) -> None:
    groq.reply = lambda messages: f"answer to {messages[-1]['content']}"
    async with terminal(settings_for(tmp_path, groq, None)) as (_, _, core):
        gate = groq.hold()
        slow = asyncio.create_task(_final(core, ConversationKey("t", "A"), "first"))
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        queued = asyncio.create_task(_final(core, ConversationKey("t", "A"), "second"))
        groq._hold = None  # later answers are not held
        other = await _final(core, ConversationKey("t", "B"), "other chat")
        assert other == "answer to other chat"  # not blocked by chat A's slow answer
        assert not slow.done() and not queued.done()
        assert len(groq.chat_bodies) == 2  # chat A's second turn has not started
        gate.set()
        assert await slow == "answer to first"
        assert await queued == "answer to second"
    second_prompt = groq.chat_bodies[2]["messages"]
    assert [m["content"] for m in second_prompt][-3:] == ["first", "answer to first", "second"]


async def _final(core: object, key: ConversationKey, text: str) -> str:
    conversations = core.conversations  # type: ignore[attr-defined]
    async with aclosing(conversations.handle(Turn(key, "u", text=text))) as events:
        async for event in events:
            if isinstance(event, FinalText):
                return event.text
    raise AssertionError("no final text")
