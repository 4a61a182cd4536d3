"""The text-to-speech part of the fake Groq: `POST /openai/v1/audio/speech`, as Groq serves it.

Groq's TTS models are Canopy Labs' Orpheus (console.groq.com/docs/text-to-speech and
/docs/text-to-speech/orpheus; the PlayAI models were shut down at the end of 2025):

- `canopylabs/orpheus-v1-english`: voices autumn, diana, hannah, austin, daniel, troy;
- `canopylabs/orpheus-arabic-saudi`: voices abdullah, fahad, sultan, lulwa, noura, aisha.

The body is JSON `{model, input, voice, response_format, sample_rate, speed}` (the groq SDK's
`audio.speech.create`, src/groq/resources/audio/speech.py). Orpheus takes at most 200
characters of `input` per request and answers WAV only; the answer is the audio bytes
themselves. A model the organisation has not accepted the terms of answers 400
`model_terms_required` ("The model `X` requires terms acceptance. Please have the org admin
accept the terms at https://console.groq.com/playground?model=X", as quoted in public bug
reports). The wording of the other 400s (voice, length, format) is this fake's: Groq's exact
text is not documented, only that they are `invalid_request_error`s.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from typing import Any

from aiohttp import web

ENGLISH = "canopylabs/orpheus-v1-english"
ARABIC = "canopylabs/orpheus-arabic-saudi"
VOICES: dict[str, tuple[str, ...]] = {
    ENGLISH: ("autumn", "diana", "hannah", "austin", "daniel", "troy"),
    ARABIC: ("abdullah", "fahad", "sultan", "lulwa", "noura", "aisha"),
}
MAX_INPUT_CHARS = 200
CHECK_INPUT = "Ready."  # what the bot's start-up check reads aloud (core/voice_answers.py)
FORMATS = ("wav",)
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
DEFAULT_SAMPLE_RATE = 48000
SPEECH_PARAMS = {"model", "input", "voice", "response_format", "sample_rate", "speed"}
# Orpheus reads about 15 characters a second: the fake's audio lasts as long.
CHARS_PER_SECOND = 15.0


def terms_required(model: str) -> dict[str, Any]:
    """Groq's 400 body for a model whose terms the organisation has not accepted."""
    message = (
        f"The model `{model}` requires terms acceptance. Please have the org admin accept the "
        f"terms at https://console.groq.com/playground?model={model}"
    )
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "code": "model_terms_required",
        }
    }


def speech_params_error(body: Any) -> str | None:
    """What Groq refuses in a speech request's JSON (None: nothing); the model is checked first."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    unknown = sorted(set(body) - SPEECH_PARAMS)
    if unknown:
        return f"property '{unknown[0]}' is unsupported"
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        return "property 'input' is missing"
    if len(text) > MAX_INPUT_CHARS:
        return f"input must be at most {MAX_INPUT_CHARS} characters, got {len(text)}"
    voices = VOICES[body["model"]]
    if body.get("voice") not in voices:
        return f"voice must be one of [{' '.join(voices)}] for model {body['model']}"
    if body.get("response_format", "wav") not in FORMATS:
        return f"response_format must be one of [{' '.join(FORMATS)}] for this model"
    if body.get("sample_rate", DEFAULT_SAMPLE_RATE) not in SAMPLE_RATES:
        return f"sample_rate must be one of {list(SAMPLE_RATES)}"
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.5 <= speed <= 5:
        return "speed must be between 0.5 and 5"
    return None


def spoken_wav(text: str, sample_rate: int = DEFAULT_SAMPLE_RATE) -> bytes:
    """A real 16-bit mono WAV as long as `text` takes to say: a quiet tone, one per request."""
    seconds = max(0.3, len(text) / CHARS_PER_SECOND)
    frames = int(seconds * sample_rate)
    pitch = 180 + 20 * (len(text) % 7)
    samples = (int(3000 * math.sin(2 * math.pi * pitch * n / sample_rate)) for n in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(struct.pack(f"<{frames}h", *samples))
    return buffer.getvalue()


def speech_response(body: dict[str, Any]) -> web.Response:
    """The audio of an accepted request, as Groq sends it: the WAV bytes, `audio/wav`."""
    audio = spoken_wav(body["input"], int(body.get("sample_rate", DEFAULT_SAMPLE_RATE)))
    return web.Response(body=audio, content_type="audio/wav")
