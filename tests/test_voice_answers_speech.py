"""Groq text to speech: the fake answers like Groq, and GroqSpeaker reads a script with it."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import groq
import httpx
import pytest

from core.errors import ConfigurationError, ServiceError, UnavailableError
from core.groq.audio import duration
from core.groq.speech import (
    ARABIC_MODEL,
    ENGLISH_MODEL,
    MAX_INPUT_CHARS,
    GroqSpeaker,
    TtsVoice,
    join_wavs,
    tts_pieces,
)
from core.http import pooled_client
from tests.fakes.groq import FakeGroq
from tests.fakes.groq_speech import spoken_wav

UNREADABLE_LINE = "I couldn't read that answer aloud."
LONG = " ".join(f"Sentence number {n} tells a little more about it." for n in range(12))


@pytest.fixture
async def fake() -> AsyncIterator[FakeGroq]:
    async with FakeGroq() as server:
        yield server


@pytest.fixture
async def client(fake: FakeGroq) -> AsyncIterator[groq.AsyncGroq]:
    """The SDK on the pooled client the bot uses, retrying like the bot's (twice)."""
    async with pooled_client(httpx.Limits(max_connections=10)) as http:
        yield groq.AsyncGroq(
            base_url=fake.base_url, api_key=fake.api_key, max_retries=2, http_client=http
        )


def bodies(fake: FakeGroq) -> list[dict[str, Any]]:
    return [call.json for call in fake.calls("/audio/speech") if isinstance(call.json, dict)]


def speaker(client: groq.AsyncGroq) -> GroqSpeaker:
    return GroqSpeaker(
        client, TtsVoice(ENGLISH_MODEL, "autumn"), {"ar": TtsVoice(ARABIC_MODEL, "fahad")}
    )


# -- the fake, through the real SDK -----------------------------------------------------------


async def test_the_fake_answers_a_wav_as_long_as_the_text(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    response = await client.audio.speech.create(
        model=ENGLISH_MODEL, voice="troy", input="Hello there, how are you?", response_format="wav"
    )
    data = await response.read()
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        assert reader.getnframes() / reader.getframerate() > 1.0
    (call,) = fake.calls("/audio/speech")
    assert call.json == {
        "model": ENGLISH_MODEL,
        "voice": "troy",
        "input": "Hello there, how are you?",
        "response_format": "wav",
    }


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"voice": "alloy"}, "voice must be one of"),
        ({"voice": "fahad"}, "voice must be one of"),  # an Arabic voice for the English model
        ({"input": "x" * (MAX_INPUT_CHARS + 1)}, "at most 200 characters"),
        ({"response_format": "mp3"}, "response_format"),
        ({"input": "  "}, "'input'"),
    ],
)
async def test_the_fake_refuses_what_groq_refuses(
    client: groq.AsyncGroq, fields: dict[str, str], words: str
) -> None:
    body = {"model": ENGLISH_MODEL, "voice": "autumn", "input": "Hi.", **fields}
    with pytest.raises(groq.BadRequestError) as caught:
        await client.audio.speech.create(**body)  # type: ignore[arg-type]
    assert words in caught.value.message


async def test_an_unaccepted_model_answers_model_terms_required(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    fake.terms_required.add(ENGLISH_MODEL)
    with pytest.raises(groq.BadRequestError) as caught:
        await client.audio.speech.create(model=ENGLISH_MODEL, voice="autumn", input="Hi.")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["code"] == "model_terms_required"


async def test_a_chat_model_does_no_speech_and_a_speech_model_no_chat(
    client: groq.AsyncGroq,
) -> None:
    with pytest.raises(groq.BadRequestError, match="does not support speech"):
        await client.audio.speech.create(model="openai/gpt-oss-20b", voice="autumn", input="Hi.")
    with pytest.raises(groq.BadRequestError, match="does not support chat"):
        await client.chat.completions.create(
            model=ENGLISH_MODEL, messages=[{"role": "user", "content": "Hi"}]
        )


# -- cutting a script within Groq's input limit -----------------------------------------------


def test_a_script_is_cut_at_sentence_ends_within_the_limit() -> None:
    pieces = tts_pieces(LONG)
    assert len(pieces) > 2
    assert all(len(piece) <= MAX_INPUT_CHARS for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces)
    assert " ".join(pieces) == LONG


def test_a_sentence_longer_than_the_limit_is_cut_at_clauses_then_words() -> None:
    clauses = ", ".join(f"clause {n} of a very long sentence" for n in range(12)) + "."
    pieces = tts_pieces(clauses, 100)
    assert all(len(piece) <= 100 for piece in pieces)
    assert all(piece.endswith((",", ".")) for piece in pieces)
    words = "word " * 80
    assert all(len(piece) <= 50 for piece in tts_pieces(words, 50))
    assert tts_pieces("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_chinese_is_cut_after_its_full_stops() -> None:
    text = "这是第一句话。" * 40
    pieces = tts_pieces(text, 50)
    assert all(len(piece) <= 50 and piece.endswith("。") for piece in pieces)
    assert "".join(pieces) == text


def test_wavs_are_joined_end_to_end() -> None:
    joined, seconds = join_wavs([spoken_wav("a" * 30), spoken_wav("b" * 15)])
    assert seconds == pytest.approx(3.0, abs=0.01)
    with wave.open(io.BytesIO(joined)) as reader:
        assert reader.getnframes() == 3 * 48000
    with pytest.raises(ValueError, match="different formats"):
        join_wavs([spoken_wav("a" * 30), spoken_wav("b" * 15, 24000)])


# -- GroqSpeaker against the fake -------------------------------------------------------------


async def test_a_long_script_is_read_in_pieces_and_joined_into_one_voice_note(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    voice = await speaker(client).speak(LONG)
    calls = bodies(fake)
    assert len(calls) == len(tts_pieces(LONG)) > 2
    assert all(len(call["input"]) <= MAX_INPUT_CHARS for call in calls)
    assert {call["voice"] for call in calls} == {"autumn"}
    assert voice.data.startswith(b"OggS")
    expected = sum(max(0.3, len(call["input"]) / 15) for call in calls)
    assert voice.seconds == pytest.approx(expected, abs=0.05)
    assert await duration(voice.data, "ogg") == pytest.approx(expected, abs=0.1)


async def test_arabic_is_read_by_the_arabic_model_and_other_languages_are_not_spoken(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    tts = speaker(client)
    await tts.speak("مرحبا بكم.", "ar")
    (call,) = bodies(fake)
    assert (call["model"], call["voice"]) == (ARABIC_MODEL, "fahad")
    assert tts.speaks("en") and tts.speaks(None) and tts.speaks("ar")
    assert not tts.speaks("es")


async def test_unaccepted_terms_are_a_configuration_error_naming_the_console_page(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    fake.terms_required.add(ENGLISH_MODEL)
    with pytest.raises(ConfigurationError) as caught:
        await speaker(client).speak("Hello.")
    assert "console.groq.com/playground?model=canopylabs/orpheus-v1-english" in caught.value.detail
    assert caught.value.message == "My voice service is misconfigured."


async def test_a_voice_groq_does_not_have_is_a_configuration_error(
    client: groq.AsyncGroq,
) -> None:
    tts = GroqSpeaker(client, TtsVoice(ENGLISH_MODEL, "nobody"))
    with pytest.raises(ConfigurationError, match="TTS_VOICE"):
        await tts.speak("Hello.")


async def test_a_429_and_a_503_are_retried_by_the_sdk_then_reported(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    fake.fail_next("audio/speech", 429)
    fake.fail_next("audio/speech", 503)
    voice = await speaker(client).speak("Hello.")
    assert voice.data.startswith(b"OggS")
    fake.fail_next("audio/speech", 503, times=3)
    with pytest.raises(ServiceError) as caught:
        await speaker(client).speak("Hello.")
    assert not isinstance(caught.value, UnavailableError | ConfigurationError)
    assert "isn't answering" in caught.value.message


def test_voices_are_checked_against_the_models_groq_serves() -> None:
    assert TtsVoice.parse("troy", ENGLISH_MODEL) == TtsVoice(ENGLISH_MODEL, "troy")
    assert TtsVoice.parse(f"{ARABIC_MODEL}:Noura", ENGLISH_MODEL) == TtsVoice(ARABIC_MODEL, "noura")
    assert TtsVoice.parse("some/new-model:zoe", ENGLISH_MODEL).voice == "zoe"  # unknown model
    with pytest.raises(ValueError, match="autumn, diana"):
        TtsVoice.parse("alloy", ENGLISH_MODEL)


async def test_check_names_unaccepted_tts_terms_and_passes_once_accepted(
    tmp_path: Path, fake: FakeGroq
) -> None:
    from bot import check
    from bot.wiring import open_core
    from tests.harness import settings_for

    async with open_core(settings_for(tmp_path, fake, None, TTS_ENABLED=True)) as core:
        checks = check.configured_checks(core)
        assert "groq-tts" in checks and "groq-tts" in check.start_checks(core)
        fake.terms_required.add(ENGLISH_MODEL)
        passed, line = await check.attempt(core, checks["groq-tts"])
        assert not passed
        assert "console.groq.com/playground?model=canopylabs/orpheus-v1-english" in line
        fake.terms_required.clear()
        passed, line = await check.attempt(core, checks["groq-tts"])
        assert passed and "text to speech answers" in line
    async with open_core(settings_for(tmp_path, fake, None)) as core:  # TTS_ENABLED=false
        assert "groq-tts" not in check.configured_checks(core)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"TTS_VOICE": "alloy"},
            "bad settings: TTS_VOICE: 'alloy' is not a voice of canopylabs/orpheus-v1-english: "
            "autumn, diana, hannah, austin, daniel, troy",
        ),
        (
            {"TTS_VOICES": "ar=canopylabs/orpheus-arabic-saudi:troy"},
            "bad settings: TTS_VOICES: 'ar=canopylabs/orpheus-arabic-saudi:troy': 'troy' is not "
            "a voice of canopylabs/orpheus-arabic-saudi: abdullah, fahad, sultan, lulwa, noura, "
            "aisha",
        ),
        (
            {"TTS_VOICES": "arabic"},
            "bad settings: TTS_VOICES: 'arabic=' is not language=model:voice "
            "(ar=canopylabs/orpheus-arabic-saudi:noura)",
        ),
    ],
)
def test_an_unknown_tts_voice_is_one_line_at_start(env: dict[str, str], line: str) -> None:
    from pydantic import ValidationError

    from bot.settings_errors import describe

    with pytest.raises(ValidationError) as caught:
        settings_of(**env)
    assert describe(caught.value) == line


def test_tts_voices_by_language_over_the_built_in_arabic_one() -> None:

    default = settings_of()
    assert default.tts_voices == {"ar": TtsVoice(ARABIC_MODEL, "fahad")}
    assert (default.TTS_ENABLED, default.TTS_DAILY_LIMIT_PER_USER) == (False, 30)
    chosen = settings_of(TTS_VOICES=f"ar={ARABIC_MODEL}:Noura, en=troy", TTS_DAILY_LIMIT_TOTAL="")
    assert chosen.tts_voices == {
        "ar": TtsVoice(ARABIC_MODEL, "noura"),
        "en": TtsVoice(ENGLISH_MODEL, "troy"),
    }
    assert chosen.TTS_DAILY_LIMIT_TOTAL is None


def settings_of(**env: str) -> Any:
    """Settings from these values alone (no .env file), with a Groq key."""
    from bot.settings import Settings

    values: dict[str, Any] = {"GROQ_API_KEY": "k", **env}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# -- exact cuts, voices and Groq's refusals -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "pieces"),
    [
        ("", 10, []),
        ("   ", 10, []),
        ("  a \n b  ", 10, ["a b"]),
        ("abcde", 5, ["abcde"]),
        ("abcdef", 5, ["abcde", "f"]),
        ("One. Two. Three.", 9, ["One. Two.", "Three."]),
        ("One, two; three.", 9, ["One, two;", "three."]),
        ("Is it? Yes! Sure… ok", 7, ["Is it?", "Yes!", "Sure…", "ok"]),
        ("Hi. aaaa, bbbb cccc.", 9, ["Hi.", "aaaa,", "bbbb", "cccc."]),
        ("aaaaaaaaaaaa bb", 5, ["aaaaa", "aaaaa", "aa bb"]),
        ("a.b c", 3, ["a.b", "c"]),
        ("مرحبا؟ كيف حالك؟", 8, ["مرحبا؟", "كيف", "حالك؟"]),
        ("一。二！三？", 2, ["一。", "二！", "三？"]),
        ("一，二、三；四：", 2, ["一，", "二、", "三；", "四："]),
    ],
    ids=[
        "empty",
        "blank",
        "spaces folded",
        "exactly the limit",
        "one over",
        "two sentences fill the limit",
        "clauses",
        "question, exclamation and ellipsis",
        "sentence, then clauses, then words",
        "a word longer than the limit",
        "a full stop inside a word",
        "arabic question marks",
        "chinese sentence ends",
        "chinese clause marks",
    ],
)
def test_a_script_is_cut_exactly_at_the_latest_break_that_fits(
    text: str, limit: int, pieces: list[str]
) -> None:
    assert tts_pieces(text, limit) == pieces


@pytest.mark.parametrize(
    ("spec", "voice"),
    [
        (" Troy ", TtsVoice(ENGLISH_MODEL, "troy")),
        (":daniel", TtsVoice(ENGLISH_MODEL, "daniel")),
        (f" {ARABIC_MODEL} : Lulwa ", TtsVoice(ARABIC_MODEL, "lulwa")),
        ("org/model:v2:zoe", TtsVoice("org/model:v2", "zoe")),
    ],
    ids=["bare voice", "empty model", "spaced model and voice", "a colon in the model"],
)
def test_a_voice_is_model_colon_voice_or_a_voice_of_the_default_model(
    spec: str, voice: TtsVoice
) -> None:
    assert TtsVoice.parse(spec, ENGLISH_MODEL) == voice


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("", "names no voice"),
        (f"{ARABIC_MODEL}: ", "names no voice"),
        ("fahad", "'fahad' is not a voice of canopylabs/orpheus-v1-english: autumn, diana,"),
    ],
    ids=["nothing", "a model without a voice", "another model's voice"],
)
def test_a_voice_that_is_not_one_is_refused(spec: str, error: str) -> None:
    with pytest.raises(ValueError) as caught:
        TtsVoice.parse(spec, ENGLISH_MODEL)
    assert str(caught.value).startswith(error)


def test_tts_voices_are_read_by_language() -> None:
    from core.groq.speech import parse_tts_voices

    assert parse_tts_voices("", ENGLISH_MODEL) == {}
    assert parse_tts_voices(" , ,", ENGLISH_MODEL) == {}
    assert parse_tts_voices(",en=troy", ENGLISH_MODEL) == {"en": TtsVoice(ENGLISH_MODEL, "troy")}
    assert parse_tts_voices(f" en = Troy ,haw=autumn,ar={ARABIC_MODEL}:noura", ENGLISH_MODEL) == {
        "en": TtsVoice(ENGLISH_MODEL, "troy"),
        "haw": TtsVoice(ENGLISH_MODEL, "autumn"),
        "ar": TtsVoice(ARABIC_MODEL, "noura"),
    }
    shape = "is not language=model:voice (ar=canopylabs/orpheus-arabic-saudi:noura)"
    for entry in ("en troy", "EN=troy", "e=troy", "engl=troy", "en=", "=troy"):
        with pytest.raises(ValueError) as caught:
            parse_tts_voices(f"ar=fahad, {entry}", ARABIC_MODEL)
        assert str(caught.value) == f"{entry!r} {shape}", entry
    with pytest.raises(ValueError) as caught:
        parse_tts_voices("en=fahad", ENGLISH_MODEL)
    assert str(caught.value) == (
        "'en=fahad': 'fahad' is not a voice of canopylabs/orpheus-v1-english: "
        "autumn, diana, hannah, austin, daniel, troy"
    )


def _wav(channels: int, width: int, rate: int, frames: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(range(256)) * (frames * channels * width // 256))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("channels", "width", "rate"),
    [(1, 2, 24000), (2, 1, 11025), (1, 1, 8000)],
    ids=["mono 16 bit", "stereo 8 bit", "mono 8 bit"],
)
def test_joined_wavs_keep_their_format_and_add_up_their_frames(
    channels: int, width: int, rate: int
) -> None:
    parts = [_wav(channels, width, rate, 512), _wav(channels, width, rate, 1024)]
    joined, seconds = join_wavs(parts)
    assert seconds == 1536 / rate
    with wave.open(io.BytesIO(joined)) as reader:
        shape = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
        assert (shape, reader.getnframes()) == ((channels, width, rate), 1536)
        frames = reader.readframes(1536)
    assert frames == b"".join(wave.open(io.BytesIO(p)).readframes(1024) for p in parts)
    with pytest.raises(ValueError, match="no audio"):
        join_wavs([])


async def test_an_empty_script_is_not_sent_to_groq(fake: FakeGroq, client: groq.AsyncGroq) -> None:
    with pytest.raises(ServiceError) as caught:
        await speaker(client).speak(" \n ")
    assert caught.value.message == "There was nothing to read aloud."
    assert not fake.calls("/audio/speech")


async def test_a_language_without_a_voice_is_read_by_the_default_one(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    tts = speaker(client)
    assert tts.voice_for("es") == tts.voice_for(None) == TtsVoice(ENGLISH_MODEL, "autumn")
    assert tts.voice_for("ar") == TtsVoice(ARABIC_MODEL, "fahad")
    await tts.speak("Hola.", "es")
    await tts.speak("Hello.")
    assert [(c["model"], c["voice"], c["response_format"]) for c in bodies(fake)] == [
        (ENGLISH_MODEL, "autumn", "wav")
    ] * 2


async def test_a_retired_tts_model_is_a_configuration_error_naming_the_settings(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    fake.decommissioned.add(ENGLISH_MODEL)
    with pytest.raises(ConfigurationError) as caught:
        await speaker(client).speak("Hello.")
    assert caught.value.message == "My voice service is misconfigured."
    detail = caught.value.detail
    assert detail.startswith(
        "Groq refused canopylabs/orpheus-v1-english / voice autumn (TTS_MODEL, TTS_VOICE): "
    )
    assert "The model `canopylabs/orpheus-v1-english` has been decommissioned" in detail


async def test_another_400_is_one_line_that_the_answer_could_not_be_read(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    message = "input must be at most 200 characters, got 201"
    body = {"error": {"message": message, "type": "invalid_request_error"}}
    fake.fail_next("audio/speech", 400, body=body)
    with pytest.raises(ServiceError) as caught:
        await speaker(client).speak("Hello.")
    assert not isinstance(caught.value, ConfigurationError)
    assert caught.value.message == "I couldn't read that answer aloud."
    assert caught.value.detail.startswith("Groq 400: ") and message in caught.value.detail


async def test_audio_ffmpeg_cannot_encode_is_one_line() -> None:
    from core.groq.speech import encode_voice_note

    with pytest.raises(ServiceError) as caught:
        await encode_voice_note(b"RIFF, but not a WAV")
    assert caught.value.message == "I couldn't read that answer aloud."
    assert caught.value.detail.startswith("ffmpeg could not encode the voice note: ")


async def test_an_answer_that_is_no_wav_is_one_line(fake: FakeGroq, client: groq.AsyncGroq) -> None:
    # A 200 whose body is no WAV (a proxy's page, a cut download): the note cannot be made.
    fake.fail_next("audio/speech", 200, body="<html>captive portal</html>")
    with pytest.raises(ServiceError) as caught:
        await speaker(client).speak("Hello.")
    assert caught.value.message == "I couldn't read that answer aloud."
    assert caught.value.detail.startswith("Groq's WAV could not be read: ")


async def test_an_outage_is_the_voice_service_not_answering(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    fake.fail_next("audio/speech", 503, times=3)
    with pytest.raises(ServiceError) as caught:
        await speaker(client).speak("Hello.")
    assert caught.value.message == (
        "My voice service isn't answering right now — please try again shortly."
    )
    assert caught.value.detail.startswith("Groq failed: InternalServerError: ")


async def test_a_tts_model_groq_does_not_serve_names_tts_model(client: groq.AsyncGroq) -> None:
    tts = GroqSpeaker(client, TtsVoice("canopylabs/orpheus-v2-nowhere", "autumn"))
    with pytest.raises(ConfigurationError) as caught:
        await tts.speak("Hello.")
    assert caught.value.message == "My voice service is misconfigured."
    assert caught.value.detail.startswith("TTS_MODEL names a model Groq does not serve: ")


@pytest.mark.parametrize(
    ("body", "misconfigured"),
    [
        ("Bad Request", False),
        ({"error": {"message": "The model does not exist", "code": "model_not_found"}}, True),
    ],
    ids=["a text body", "an unknown model as a 400"],
)
async def test_other_400s_of_speech(
    fake: FakeGroq, client: groq.AsyncGroq, body: object, misconfigured: bool
) -> None:
    fake.fail_next("audio/speech", 400, body=body)
    with pytest.raises(ServiceError) as caught:
        await speaker(client).speak("Hello.")
    assert isinstance(caught.value, ConfigurationError) is misconfigured
    line = "My voice service is misconfigured." if misconfigured else UNREADABLE_LINE
    assert caught.value.message == line


async def test_the_speakers_own_piece_limit_cuts_the_script(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    tts = GroqSpeaker(client, TtsVoice(ENGLISH_MODEL, "autumn"), max_chars=40)
    await tts.speak(LONG[:200])
    inputs = [call["input"] for call in bodies(fake)]
    assert inputs == tts_pieces(LONG[:200], 40) and len(inputs) > 4
