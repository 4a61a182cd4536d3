"""Audio preparation for Whisper: send what it accepts as is, convert the rest with ffmpeg."""

from __future__ import annotations

import asyncio
import logging

from core.errors import BadInputError
from core.types import Audio

log = logging.getLogger(__name__)

# Groq's free tier caps a transcription upload at 25 MB.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
# Whisper bills by length; an hour-long "voice message" is not a question.
MAX_AUDIO_SECONDS = 15 * 60
TOO_LONG = f"That recording is too long for me ({MAX_AUDIO_SECONDS // 60} minutes at most)."
_CONVERT_TIMEOUT = 60.0

_ACCEPTED_MIME = {
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
}


def sniff(data: bytes) -> str | None:
    """Name the container by its magic bytes, if Whisper accepts it as is."""
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"fLaC"):
        return "flac"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


async def prepare(audio: Audio, max_bytes: int = MAX_AUDIO_BYTES) -> Audio:
    """Return audio Whisper accepts: the same bytes when possible, else converted to OGG/Opus."""
    if not audio.data:
        raise BadInputError("That voice message is empty — try recording it again.")
    if len(audio.data) > max_bytes:
        limit = max_bytes // (1024 * 1024)
        raise BadInputError(f"That recording is too large for me (the limit is {limit} MB).")
    kind = sniff(audio.data)
    if kind is not None:
        return Audio(audio.data, _ACCEPTED_MIME[kind], f"audio.{kind}")
    converted = await _convert_to_ogg(audio.data)
    if len(converted) > max_bytes:
        raise BadInputError("That recording is too long for me to listen to.")
    return Audio(converted, "audio/ogg", "audio.ogg")


async def _convert_to_ogg(data: bytes) -> bytes:
    """Decode any format ffmpeg knows and encode OGG/Opus, mono 16 kHz (what Whisper uses).

    pydub cannot decode without ffprobe, which no wheel ships, so this runs the ffmpeg binary
    from the imageio-ffmpeg wheel directly, as a subprocess that does not block the event loop.
    """
    import imageio_ffmpeg

    args = ["-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-vn", "-ac", "1"]
    args += ["-ar", "16000", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1"]
    process = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), _CONVERT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BadInputError("That recording took too long to read — try a shorter one.") from None
    if process.returncode != 0 or not out:
        log.info("could not decode audio (%d bytes): %s", len(data), err.decode()[-300:])
        raise BadInputError("I couldn't read that audio file — is it a voice recording?")
    return out
