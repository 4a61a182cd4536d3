"""GroqTranscriber against the fake Groq through the real SDK: the transcript and its language,
and the exact line and log detail for each way Whisper refuses (naming WHISPER_MODEL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import groq as groq_sdk
import pytest

from core.errors import BadInputError, ConfigurationError, ServiceError, UserFacingError
from core.groq.whisper import GroqTranscriber
from core.types import Audio, Transcription
from tests.fakes.groq import FakeGroq

VOICE = Audio((Path(__file__).parent / "data" / "voice.ogg").read_bytes(), "audio/ogg", "v.ogg")
MISCONFIGURED = "My speech service is misconfigured."


@pytest.fixture
async def client(groq: FakeGroq) -> AsyncIterator[groq_sdk.AsyncGroq]:
    sdk = groq_sdk.AsyncGroq(api_key=groq.api_key, base_url=groq.base_url, max_retries=0)
    try:
        yield sdk
    finally:
        await sdk.close()


async def failure(transcriber: GroqTranscriber) -> UserFacingError:
    with pytest.raises(UserFacingError) as raised:
        await transcriber.transcribe(VOICE)
    return raised.value


async def test_the_transcript_comes_with_the_language_whisper_heard(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.transcript = "  hola, qué tal  "
    groq.hear_next("es")
    heard = await GroqTranscriber(client, "whisper-large-v3-turbo").transcribe(VOICE)
    assert heard == Transcription("hola, qué tal", "es")


@pytest.mark.parametrize("model", ["distil-whisper-large-v3-en", "whisper-nonexistent"])
async def test_a_retired_or_unknown_model_names_whisper_model(
    client: groq_sdk.AsyncGroq, model: str
) -> None:
    error = await failure(GroqTranscriber(client, model))
    assert isinstance(error, ConfigurationError)
    assert error.message == MISCONFIGURED
    assert error.detail.startswith("WHISPER_MODEL names a model Groq does not serve: ")
    assert model in error.detail


async def test_a_refused_key_is_the_speech_service_misconfigured(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.fail_next("audio/transcriptions", 401)
    error = await failure(GroqTranscriber(client, "whisper-large-v3-turbo"))
    assert (type(error), error.message) == (ConfigurationError, MISCONFIGURED)
    assert error.detail.startswith("Groq refused GROQ_API_KEY (401)")


async def test_an_outage_is_the_speech_service_not_answering(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.fail_next("audio/transcriptions", 503)
    error = await failure(GroqTranscriber(client, "whisper-large-v3-turbo"))
    assert (type(error), error.message) == (
        ServiceError,
        "My speech service isn't answering right now — please try again shortly.",
    )


async def test_audio_whisper_refuses_is_bad_input(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.fail_next("audio/transcriptions", 400)
    error = await failure(GroqTranscriber(client, "whisper-large-v3-turbo"))
    assert (type(error), error.message) == (
        BadInputError,
        "I couldn't hear anything in that — is it a voice recording?",
    )


async def test_silence_is_one_line(groq: FakeGroq, client: groq_sdk.AsyncGroq) -> None:
    groq.transcript = "   "
    error = await failure(GroqTranscriber(client, "whisper-large-v3-turbo"))
    assert (type(error), error.message) == (
        BadInputError,
        "I couldn't hear anything in that voice message.",
    )


async def test_whisper_gets_the_prepared_file_and_is_asked_for_the_language(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    await GroqTranscriber(client, "whisper-large-v3").transcribe(Audio(VOICE.data, "audio/x-foo"))
    (call,) = groq.calls("/audio/transcriptions")
    assert call.form is not None and call.file is not None
    asked = (call.form["model"], call.form["response_format"])
    assert asked == ("whisper-large-v3", "verbose_json")
    assert (call.file.filename, call.file.content_type) == ("audio.ogg", "audio/ogg")


async def test_the_length_limit_is_the_transcribers_own(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    error = await failure(GroqTranscriber(client, "whisper-large-v3-turbo", max_seconds=0.5))
    assert error.message == "That recording is too long for me (0.5 seconds at most)."
    assert not groq.calls("/audio/transcriptions")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Spanish", "es"),
        (" english ", "en"),
        ("es", "es"),
        ("jw", "jv"),
        ("JW", "jv"),
        ("javanese", "jv"),
        ("haw", "haw"),
        ("Cantonese", "yue"),
        ("castilian", "es"),
        ("haitian creole", "ht"),
        ("klingon", None),
        ("", None),
        (None, None),
        (7, None),
    ],
    ids=[
        "groq's name",
        "lower case, spaced",
        "a code",
        "whisper's javanese code",
        "upper case",
        "javanese",
        "a code of three letters",
        "cantonese",
        "an alias",
        "two words",
        "unknown",
        "empty",
        "none",
        "not a string",
    ],
)
def test_whisper_languages_are_iso_codes(name: object, code: str | None) -> None:
    from core.groq.whisper import language_code

    assert language_code(name) == code
