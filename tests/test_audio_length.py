"""Audio is measured from its own bytes before Whisper, whatever the platform declared.

Real recordings are synthesised here with the ffmpeg the project ships (a 3-second sine in every
container Whisper takes), and the limit is a parameter, so "too long" needs no long files; the
end-to-end test sends the web chat a 16-minute WebM whose header claims 10 seconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import aiohttp
import imageio_ffmpeg
import pytest

from adapters.web.app import WebAdapter
from bot.run import configured_adapters
from bot.wiring import open_core
from core.errors import BadInputError
from core.groq import audio
from core.types import Audio
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for

SECONDS = 3.0
# ffmpeg output options for each container. The browsers' MediaRecorder streams its file, so it
# has no duration in its header: Chromium's WebM, Safari's fragmented MP4. Written to a pipe,
# ffmpeg's are the same.
FORMATS = {
    "ogg": ["-c:a", "libopus", "-f", "ogg"],
    "vorbis": ["-c:a", "libvorbis", "-f", "ogg"],
    "mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
    "m4a": ["-c:a", "aac", "-f", "ipod"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
    "webm": ["-c:a", "libopus", "-f", "webm"],
    "safari": ["-c:a", "aac", "-movflags", "frag_keyframe+empty_moov", "-f", "mp4"],
}
PIPED = {"webm", "safari"}
CONVERSATION = "alice-0123456789"  # a web chat conversation id
MIME = {"vorbis": "audio/ogg", "m4a": "audio/mp4", "safari": "audio/mp4", "mp3": "audio/mpeg"}


def ffmpeg(*args: str, data: bytes | None = None) -> bytes:
    """Run the shipped ffmpeg and return what it wrote to stdout."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args]
    return subprocess.run(command, input=data, capture_output=True, check=True, timeout=60).stdout


def sine(seconds: float, *output: str, to: Path | None = None) -> bytes:
    """A sine of `seconds` encoded with `output` options, through a pipe or the file `to`."""
    source = ["-f", "lavfi", "-i", f"sine=f=440:d={seconds:g}", "-ac", "1"]
    if to is None:
        return ffmpeg(*source, *output, "pipe:1")
    ffmpeg(*source, *output, str(to))
    return to.read_bytes()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("recordings")
    return {
        name: sine(SECONDS, *args, to=None if name in PIPED else folder / name)
        for name, args in FORMATS.items()
    }


async def test_every_container_is_measured_from_its_bytes(recordings: dict[str, bytes]) -> None:
    for name, data in recordings.items():
        seconds = await audio.duration(data, audio.sniff(data))
        assert seconds == pytest.approx(SECONDS, abs=0.05), name


@pytest.mark.parametrize("name", list(FORMATS))
async def test_recordings_within_the_limit_go_to_whisper_unconverted(
    recordings: dict[str, bytes], name: str
) -> None:
    prepared = await audio.prepare(
        Audio(recordings[name], "application/octet-stream"), max_seconds=5
    )

    assert prepared.data == recordings[name]
    assert prepared.mime_type == MIME.get(name, f"audio/{name}")


@pytest.mark.parametrize("name", list(FORMATS))
async def test_recordings_over_the_limit_are_declined(
    recordings: dict[str, bytes], name: str
) -> None:
    # Declared as 1 second, as a platform might: the bytes are what counts.
    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(recordings[name], "audio/ogg", "voice.ogg"), max_seconds=2)

    assert caught.value.message == "That recording is too long for me (2 seconds at most)."


@pytest.mark.parametrize("name", list(FORMATS))
async def test_corrupt_bytes_behind_a_valid_magic_header_are_unreadable(
    recordings: dict[str, bytes], name: str
) -> None:
    corrupt = recordings[name][:12] + bytes(range(256)) * 16
    assert audio.sniff(corrupt) == audio.sniff(recordings[name])

    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(corrupt), max_seconds=5)

    assert caught.value.message == audio.UNREADABLE


async def test_other_formats_are_converted_and_measured(tmp_path: Path) -> None:
    aiff = sine(SECONDS, "-f", "aiff", to=tmp_path / "voice.aiff")

    prepared = await audio.prepare(Audio(aiff, "audio/aiff"), max_seconds=5)
    with pytest.raises(BadInputError, match="2 seconds at most"):
        await audio.prepare(Audio(aiff, "audio/aiff"), max_seconds=2)

    assert prepared.mime_type == "audio/ogg" and prepared.data.startswith(b"OggS")
    assert await audio.duration(prepared.data, "ogg") == pytest.approx(SECONDS, abs=0.05)


async def test_a_streaming_wav_is_measured_by_its_samples(recordings: dict[str, bytes]) -> None:
    # A WAV written as a stream claims 0xFFFFFFFF bytes (about 13 hours here) it does not hold.
    wav = recordings["wav"]
    data_at = wav.index(b"data")
    streaming = (
        b"RIFF\xff\xff\xff\xff" + wav[8 : data_at + 4] + b"\xff\xff\xff\xff" + wav[data_at + 8 :]
    )

    assert await audio.duration(streaming, "wav") == pytest.approx(SECONDS, abs=0.05)


def test_the_too_long_line_names_the_limit() -> None:
    assert audio.TOO_LONG == "That recording is too long for me (15 minutes at most)."
    assert audio.too_long(90) == "That recording is too long for me (1.5 minutes at most)."


async def test_web_chat_declines_a_long_recording_before_whisper(
    tmp_path: Path, groq: FakeGroq
) -> None:
    ten = sine(10, "-b:a", "8k", "-c:a", "libopus", "-f", "webm", to=tmp_path / "ten.webm")
    # Looped by stream copy: 16 minutes of packets under the header of the 10-second file, which
    # says 10 s; a declared duration proves nothing.
    loop = ["-stream_loop", "95", "-i", str(tmp_path / "ten.webm"), "-c", "copy"]
    long = ffmpeg(*loop, "-f", "webm", "pipe:1")
    assert len(ten) < 20_000 and len(long) < 2_000_000
    measured = await audio.duration(long, "webm")
    assert measured is not None and audio.MAX_AUDIO_SECONDS < measured < 17 * 60
    settings = settings_for(tmp_path, groq, None, WEB_ENABLED=True, WEB_PORT=0)
    (factory,) = configured_adapters(settings)
    async with open_core(settings) as core, aiohttp.ClientSession() as session:
        adapter = factory(core)
        assert isinstance(adapter, WebAdapter)
        await adapter.start()
        try:
            url = f"http://127.0.0.1:{adapter.port}/ws"
            async with session.ws_connect(url, params={"conversation": CONVERSATION}) as ws:
                ready = await ws.receive_json(timeout=5)
                assert ready["type"] == "status" and ready["state"] == "ready"
                await ws.send_bytes(long)
                reply = await ws.receive_json(timeout=10)
                await ws.send_json({"type": "text", "turn": "t2", "text": "still there?"})
                after = [await ws.receive_json(timeout=5) for _ in range(2)]
        finally:
            await adapter.stop()

    assert reply["type"] == "error" and reply["message"] == audio.TOO_LONG
    assert not groq.calls("/audio/transcriptions")
    assert [m["turn"] for m in after] == ["t2", "t2"] and groq.chat_bodies
