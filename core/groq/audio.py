"""Audio preparation for Whisper: measure its length, send it as is or converted with ffmpeg.

A platform's declared duration is a claim; the length here is read from the bytes, so a
30-minute recording is declined before any Whisper call whatever the platform said.
"""

from __future__ import annotations

import asyncio
import io
import logging

from mutagen import File as MutagenFile
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from core.errors import BadInputError
from core.i18n import Line
from core.types import Audio

log = logging.getLogger(__name__)

# Groq's free tier caps a transcription upload at 25 MB.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
# Whisper bills by length; an hour-long "voice message" is not a question.
MAX_AUDIO_SECONDS = 15 * 60
UNREADABLE = Line("I couldn't read that audio file — is it a voice recording?")
SLOW = Line("That recording took too long to read — try a shorter one.")
_CONVERT_TIMEOUT = 60.0
# Measuring only demuxes (no decoding): about 0.3 s for 16 minutes of WebM/Opus.
_MEASURE_TIMEOUT = 30.0


def too_long(max_seconds: float) -> str:
    """Say that a recording is longer than `max_seconds`, in one line for the user."""
    if max_seconds >= 60:
        return Line(
            "That recording is too long for me ({minutes} minutes at most).",
            minutes=max_seconds / 60,
        )
    return Line(
        "That recording is too long for me ({seconds} seconds at most).", seconds=max_seconds
    )


TOO_LONG = too_long(MAX_AUDIO_SECONDS)

_ACCEPTED_MIME = {
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
}
# The mutagen readers for each container; mutagen has none for WebM/Matroska.
_MUTAGEN_TYPES: dict[str, list[type]] = {
    "ogg": [OggOpus, OggVorbis, OggFLAC],
    "flac": [FLAC],
    "wav": [WAVE],
    "mp4": [MP4],
    "mp3": [MP3],
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


async def prepare(
    audio: Audio, max_bytes: int = MAX_AUDIO_BYTES, max_seconds: float = MAX_AUDIO_SECONDS
) -> Audio:
    """Return audio Whisper accepts, at most `max_seconds` long by its own bytes.

    The same bytes when Whisper takes the container, else converted to OGG/Opus. Raise a
    `BadInputError` for empty, too large, too long, corrupt or unmeasurable audio.
    """
    if not audio.data:
        raise BadInputError(Line("That voice message is empty — try recording it again."))
    if len(audio.data) > max_bytes:
        limit = max_bytes / (1024 * 1024)  # a limit under 1 MB is 0.5 MB, not 0 MB
        raise BadInputError(
            Line("That recording is too large for me (the limit is {limit} MB).", limit=limit)
        )
    data, kind = audio.data, sniff(audio.data)
    if kind is None:
        data, kind = await _convert_to_ogg(audio.data, max_seconds), "ogg"
        if len(data) > max_bytes:
            raise BadInputError(Line("That recording is too long for me to listen to."))
    seconds = await duration(data, kind)
    if seconds is None:
        raise BadInputError(UNREADABLE)
    if seconds > max_seconds:
        log.info("declined %.1f s of %s audio (the limit is %g s)", seconds, kind, max_seconds)
        raise BadInputError(too_long(max_seconds))
    return Audio(data, _ACCEPTED_MIME[kind], f"audio.{kind}")


async def duration(data: bytes, kind: str | None) -> float | None:
    """Seconds of audio in `data`, read from the bytes; None when they cannot be read.

    mutagen reads the containers it knows from memory (in a thread: it is CPU work); WebM,
    and whatever mutagen cannot read or gives no length for, is measured with ffmpeg.
    """
    seconds = await asyncio.to_thread(_mutagen_seconds, data, kind)
    if seconds is None:
        seconds = await _ffmpeg_seconds(data)
    return seconds


def _mutagen_seconds(data: bytes, kind: str | None) -> float | None:
    types = _MUTAGEN_TYPES.get(kind or "")
    if not types:
        return None
    try:
        parsed = MutagenFile(io.BytesIO(data), options=types)
    except Exception as exc:  # mutagen raises assorted errors on malformed input
        log.debug("mutagen could not read %s audio: %r", kind, exc)
        return None
    if parsed is None or parsed.info is None:
        return None
    seconds = float(parsed.info.length or 0.0)
    if kind == "ogg":
        # OGG's length is the last page's granule position, measured from the pages present,
        # not a declared field: an OGG with no complete audio page holds 0 s, for Whisper to
        # judge. FLAC, WAV and MP4 declare their length, and streams leave it 0 (unknown).
        return max(seconds, 0.0)
    if kind == "wav" and seconds * parsed.info.bitrate > len(data) * 8:
        return None  # PCM cannot outlast its bytes: a streaming writer's 0xFFFFFFFF size
    return seconds if seconds > 0 else None


async def _ffmpeg_seconds(data: bytes) -> float | None:
    """Demux the audio to ffmpeg's null muxer and read how far the timestamps went.

    Chromium's MediaRecorder writes WebM without a duration in its header, so only reading
    the packets tells the length. Stream copy reads every packet's timestamp without decoding.
    """
    args = ["-nostats", "-i", "pipe:0", "-vn", "-c:a", "copy", "-f", "null"]
    code, out, err = await _ffmpeg([*args, "-progress", "pipe:1", "-"], data, _MEASURE_TIMEOUT)
    lines = out.decode(errors="replace").splitlines()
    times = [line.removeprefix("out_time_us=") for line in lines if line.startswith("out_time_us")]
    times = [t for t in times if t.isdigit()]  # "N/A" before the first packet
    if code != 0 or not times:
        log.info("could not measure audio (%d bytes): %s", len(data), err.decode()[-300:])
        return None
    return int(times[-1]) / 1_000_000


async def _convert_to_ogg(data: bytes, max_seconds: float) -> bytes:
    """Decode any format ffmpeg knows and encode OGG/Opus, mono 16 kHz (what Whisper uses).

    pydub cannot decode without ffprobe, which no wheel ships, so this runs the ffmpeg binary
    from the imageio-ffmpeg wheel directly. The output stops a second past `max_seconds`:
    enough to tell it is too long without encoding all of it.
    """
    args = ["-i", "pipe:0", "-vn", "-ac", "1", "-ar", "16000", "-t", f"{max_seconds + 1:g}"]
    args += ["-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1"]
    code, out, err = await _ffmpeg(args, data, _CONVERT_TIMEOUT)
    if code != 0 or not out:
        log.info("could not decode audio (%d bytes): %s", len(data), err.decode()[-300:])
        raise BadInputError(UNREADABLE)
    return out


async def _ffmpeg(args: list[str], data: bytes, time_limit: float) -> tuple[int, bytes, bytes]:
    """Run ffmpeg on `data` as a subprocess that does not block the event loop."""
    import imageio_ffmpeg

    process = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), time_limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BadInputError(SLOW) from None
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    code = process.returncode
    return (-1 if code is None else code), out, err


async def run_ffmpeg(
    args: list[str], data: bytes, time_limit: float = _CONVERT_TIMEOUT
) -> tuple[int, bytes, bytes]:
    """Run the bundled ffmpeg with `args` on `data` (stdin): its exit code, stdout and stderr.

    A run past `time_limit` seconds is killed and raises a `BadInputError`.
    """
    return await _ffmpeg(args, data, time_limit)
