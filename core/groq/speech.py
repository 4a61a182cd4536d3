"""Text to speech with Groq (Canopy Labs' Orpheus models): a script read aloud, as OGG/Opus.

Groq's `POST /openai/v1/audio/speech` (console.groq.com/docs/text-to-speech/orpheus) takes at
most 200 characters of input per request and answers WAV only. So a script is cut at sentence
ends (then clauses, then words) into pieces within that limit, each piece is read by its own
request, and the WAVs are joined and encoded once as OGG/Opus, the format of a Telegram voice
note (which Discord and browsers play too).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import wave
from collections.abc import Mapping
from dataclasses import dataclass

import groq

from core.errors import ConfigurationError, ServiceError
from core.groq.audio import run_ffmpeg
from core.groq.errors import explain
from core.i18n import Line
from core.types import VoiceAudio

log = logging.getLogger(__name__)

MISCONFIGURED = Line("My voice service is misconfigured.")
UNREADABLE = Line("I couldn't read that answer aloud.")

ENGLISH_MODEL = "canopylabs/orpheus-v1-english"
ARABIC_MODEL = "canopylabs/orpheus-arabic-saudi"
# The voices of the models Groq serves (console.groq.com/docs/text-to-speech/orpheus).
MODEL_VOICES: dict[str, tuple[str, ...]] = {
    ENGLISH_MODEL: ("autumn", "diana", "hannah", "austin", "daniel", "troy"),
    ARABIC_MODEL: ("abdullah", "fahad", "sultan", "lulwa", "noura", "aisha"),
}
# Languages spoken besides the default voice's (English), as `model:voice`.
DEFAULT_LANGUAGE_VOICES = {"ar": f"{ARABIC_MODEL}:fahad"}
MAX_INPUT_CHARS = 200
# Pieces read at once: Groq's free plan allows 10 speech requests a minute.
CONCURRENT_PIECES = 3
_ENCODE_TIMEOUT = 60.0
# Zero-width cut points, tried in order: sentence ends, clause ends, spaces.
_BREAKS = (
    re.compile(r"(?<=[.!?…।؟])(?=\s)|(?<=[。！？])"),
    re.compile(r"(?<=[,;:،])(?=\s)|(?<=[，、；：])"),
    re.compile(r"(?=\s)"),
)


@dataclass(frozen=True, slots=True)
class TtsVoice:
    """A Groq TTS model and one of its voices."""

    model: str
    voice: str

    @classmethod
    def parse(cls, spec: str, default_model: str) -> TtsVoice:
        """Read `model:voice`, or a bare voice of `default_model`; ValueError when unknown."""
        model, _, voice = spec.strip().rpartition(":")
        voice = voice.strip().lower()
        choice = cls(model.strip() or default_model, voice)
        choice.check()
        return choice

    def check(self) -> None:
        """Raise ValueError naming the voices when the voice is not one of a known model's."""
        voices = MODEL_VOICES.get(self.model)
        if not self.voice:
            raise ValueError("names no voice")
        if voices is not None and self.voice not in voices:
            raise ValueError(f"{self.voice!r} is not a voice of {self.model}: {', '.join(voices)}")


def parse_tts_voices(value: str, default_model: str) -> dict[str, TtsVoice]:
    """Parse `TTS_VOICES` ("ar=canopylabs/orpheus-arabic-saudi:noura,en=troy"), by language.

    A bare voice is one of `default_model`'s. Raise ValueError naming the first bad entry.
    """
    voices: dict[str, TtsVoice] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        language, equals, spec = (piece.strip() for piece in entry.partition("="))
        if not equals or not re.fullmatch(r"[a-z]{2,3}", language) or not spec:
            raise ValueError(f"{entry!r} is not language=model:voice (ar={ARABIC_MODEL}:noura)")
        try:
            voices[language] = TtsVoice.parse(spec, default_model)
        except ValueError as exc:
            raise ValueError(f"{entry!r}: {exc}") from None
    return voices


def tts_pieces(text: str, limit: int = MAX_INPUT_CHARS) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters, at the latest break that fits.

    Sentence ends first, then clause ends, then spaces; a word longer than `limit` is cut.
    """
    flat = " ".join(text.split())
    return [piece for piece in (part.strip() for part in _pack(flat, limit, 0)) if piece]


def _pack(text: str, limit: int, level: int) -> list[str]:
    if len(text.strip()) <= limit:
        return [text]
    if level == len(_BREAKS):
        flat = text.strip()
        return [flat[start : start + limit] for start in range(0, len(flat), limit)]
    pieces: list[str] = []
    current = ""
    for part in _BREAKS[level].split(text):
        if len((current + part).strip()) <= limit:
            current += part
            continue
        if current.strip():
            pieces.append(current)
        if len(part.strip()) <= limit:
            current = part
        else:
            *done, current = _pack(part, limit, level + 1)
            pieces.extend(done)
    if current.strip():
        pieces.append(current)
    return pieces


class GroqSpeaker:
    """Speaks through the `groq` SDK's `audio.speech.create` (the client the other calls use)."""

    def __init__(
        self,
        client: groq.AsyncGroq,
        default: TtsVoice,
        languages: Mapping[str, TtsVoice] | None = None,
        *,
        max_chars: int = MAX_INPUT_CHARS,
        concurrency: int = CONCURRENT_PIECES,
    ) -> None:
        self._client, self._default = client, default
        self._languages = dict(languages or {})
        self._max_chars = max_chars
        self._slots = asyncio.Semaphore(concurrency)

    def speaks(self, language: str | None) -> bool:
        """English (the default voice) and the languages given a voice."""
        return language in (None, "en") or language in self._languages

    def voice_for(self, language: str | None) -> TtsVoice:
        """Return the model and voice that read `language` (the default for None and English)."""
        return self._languages.get(language or "", self._default)

    async def speak(self, text: str, language: str | None = None) -> VoiceAudio:
        """Read `text` piece by piece, join the pieces and encode them as OGG/Opus."""
        pieces = tts_pieces(text, self._max_chars)
        if not pieces:
            raise ServiceError(Line("There was nothing to read aloud."), detail="empty script")
        voice = self.voice_for(language)
        wavs = await asyncio.gather(*(self._read(piece, voice) for piece in pieces))
        try:
            joined, seconds = await asyncio.to_thread(join_wavs, list(wavs))
        except (wave.Error, EOFError, ValueError) as exc:
            raise _unreadable(f"Groq's WAV could not be read: {exc!r}") from exc
        return VoiceAudio(await encode_voice_note(joined), seconds)

    async def _read(self, piece: str, voice: TtsVoice) -> bytes:
        async with self._slots:
            try:
                response = await self._client.audio.speech.create(
                    model=voice.model, voice=voice.voice, input=piece, response_format="wav"
                )
                return await response.read()
            except groq.BadRequestError as exc:
                raise _refused(exc, voice) from exc
            except groq.APIError as exc:
                raise explain(exc, model_setting="TTS_MODEL", service="voice") from exc


def _refused(exc: groq.BadRequestError, voice: TtsVoice) -> ServiceError:
    """Groq's 400s: terms not accepted, a voice or model it does not know, bad input."""
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body)
    code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    if code == "model_terms_required":
        detail = (
            f"Groq serves {voice.model} (TTS_MODEL/TTS_VOICES) only once an org admin accepts "
            f"its terms at https://console.groq.com/playground?model={voice.model}"
        )
        return ConfigurationError(MISCONFIGURED, detail=detail)
    if code in ("model_decommissioned", "model_not_found") or "voice" in exc.message.lower():
        detail = f"Groq refused {voice.model} / voice {voice.voice} (TTS_MODEL, TTS_VOICE): "
        return ConfigurationError(MISCONFIGURED, detail=detail + exc.message)
    return ServiceError(UNREADABLE, detail=f"Groq 400: {exc.message}")


def _unreadable(detail: str) -> ServiceError:
    return ServiceError(UNREADABLE, detail=detail)


def join_wavs(parts: list[bytes]) -> tuple[bytes, float]:
    """One WAV of the pieces one after another, and its seconds; ValueError if they differ."""
    frames: list[bytes] = []
    shape: tuple[int, int, int] | None = None
    count = 0
    for part in parts:
        with wave.open(io.BytesIO(part), "rb") as reader:
            this = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
            if shape is not None and this != shape:
                raise ValueError(f"pieces of different formats: {shape} and {this}")
            shape = this
            data = reader.readframes(reader.getnframes())
        frames.append(data)
        count += len(data) // (this[0] * this[1])
    if shape is None:
        raise ValueError("no audio")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(shape[0])
        writer.setsampwidth(shape[1])
        writer.setframerate(shape[2])
        writer.writeframes(b"".join(frames))
    return out.getvalue(), count / shape[2]


async def encode_voice_note(wav: bytes) -> bytes:
    """Encode as a mono OGG/Opus voice note (Telegram's voice format) with the bundled ffmpeg."""
    args = ["-f", "wav", "-i", "pipe:0", "-vn", "-ac", "1", "-c:a", "libopus", "-b:a", "32k"]
    args += ["-application", "voip", "-f", "ogg", "pipe:1"]
    code, out, err = await run_ffmpeg(args, wav, _ENCODE_TIMEOUT)
    if code != 0 or not out.startswith(b"OggS"):
        raise _unreadable(f"ffmpeg could not encode the voice note: {err.decode()[-300:]}")
    return out
