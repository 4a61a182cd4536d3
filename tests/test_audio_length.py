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


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", None),
        (b"\x00\x00\x00\x20ftypM4A ", "mp4"),
        (b"\x1a\x45\xdf\xa3\x01\x00", "webm"),
        (b"ID3\x04\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xe0", "mp3"),
        (b"\xff", None),
        (b"\xff\xd8\xff\xe0", None),
        (b"\xfe\xfb\x90\x64", None),
        (b"#!AMR\n", None),
        (b"", None),
    ],
    ids=[
        "ogg",
        "flac",
        "wav",
        "avi",
        "mp4",
        "webm",
        "mp3 id3",
        "mp3 frame",
        "mp3 shortest frame sync",
        "one ff byte",
        "jpeg",
        "no frame sync",
        "amr",
        "empty",
    ],
)
def test_sniff_names_only_the_containers_whisper_takes(data: bytes, kind: str | None) -> None:
    assert audio.sniff(data) == kind


async def test_a_recording_over_the_size_limit_is_declined_naming_the_limit(
    recordings: dict[str, bytes],
) -> None:
    ogg = recordings["ogg"]
    prepared = await audio.prepare(Audio(ogg), max_bytes=len(ogg), max_seconds=5)  # at the limit
    assert prepared.data == ogg
    with pytest.raises(BadInputError, match="too large"):
        await audio.prepare(Audio(ogg + b"\x00"), max_bytes=len(ogg), max_seconds=5)
    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(bytes(1536 * 1024 + 1)), max_bytes=1536 * 1024)
    assert caught.value.message == "That recording is too large for me (the limit is 1.5 MB)."
    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(bytes(audio.MAX_AUDIO_BYTES + 1)))
    assert caught.value.message == "That recording is too large for me (the limit is 25 MB)."
    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(b""))
    assert caught.value.message == "That voice message is empty — try recording it again."


async def test_a_conversion_that_outgrows_the_size_limit_is_declined(tmp_path: Path) -> None:
    # 8-bit PCM at 2 kHz is smaller than the 16 kHz Opus it becomes.
    small = sine(SECONDS, "-ar", "2000", "-c:a", "pcm_s8", "-f", "aiff", to=tmp_path / "v.aiff")
    limit = len(small) + 100
    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(small), max_bytes=limit, max_seconds=5)
    assert caught.value.message == "That recording is too long for me to listen to."
    prepared = await audio.prepare(Audio(small), max_seconds=5)
    assert len(prepared.data) > limit and prepared.filename == "audio.ogg"


async def test_an_ogg_with_no_audio_page_holds_no_seconds(recordings: dict[str, bytes]) -> None:
    ogg = recordings["ogg"]
    headers = ogg[: ogg.index(b"OggS", ogg.index(b"OggS", 4) + 4)]  # OpusHead and OpusTags
    assert await audio.duration(headers, "ogg") == 0.0  # ffmpeg could not measure it at all
    prepared = await audio.prepare(Audio(headers), max_seconds=5)  # for Whisper to judge
    assert (prepared.data, prepared.mime_type) == (headers, "audio/ogg")


async def test_mutagen_measures_its_containers_in_memory_without_ffmpeg(
    recordings: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_ffmpeg() -> str:
        raise AssertionError("ffmpeg was run")

    short = sine(0.5, *FORMATS["wav"], to=tmp_path / "short.wav")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_ffmpeg)
    for name in ("ogg", "vorbis", "mp3", "m4a", "flac", "wav"):
        seconds = await audio.duration(recordings[name], audio.sniff(recordings[name]))
        assert seconds == pytest.approx(SECONDS, abs=0.05), name
    assert await audio.duration(short, "wav") == pytest.approx(0.5, abs=0.01)  # under a second


async def test_a_piped_flac_declares_no_length_and_is_measured_by_ffmpeg() -> None:
    piped = sine(SECONDS, "-c:a", "flac", "-f", "flac")  # no total sample count in its header
    assert await audio.duration(piped, "flac") == pytest.approx(SECONDS, abs=0.05)
    assert await audio.duration(piped, None) == pytest.approx(SECONDS, abs=0.05)


async def test_ffmpeg_past_its_time_limit_is_stopped_with_one_line(
    recordings: dict[str, bytes],
) -> None:
    args = ["-i", "pipe:0", "-c:a", "libopus", "-f", "ogg", "pipe:1"]
    with pytest.raises(BadInputError) as caught:
        await audio.run_ffmpeg(args, recordings["wav"] * 20, time_limit=0.001)
    assert caught.value.message == "That recording took too long to read — try a shorter one."
    code, out, _ = await audio.run_ffmpeg(args, recordings["wav"])
    assert code == 0 and out.startswith(b"OggS")
    code, out, err = await audio.run_ffmpeg(args, b"not audio")
    assert code != 0 and out == b"" and err


async def test_the_limits_are_inclusive(recordings: dict[str, bytes], tmp_path: Path) -> None:
    ogg = recordings["ogg"]  # 3.0 s by its last granule position
    assert (await audio.prepare(Audio(ogg), max_seconds=SECONDS)).data == ogg
    small = sine(SECONDS, "-ar", "2000", "-c:a", "pcm_s8", "-f", "aiff", to=tmp_path / "v.aiff")
    converted = await audio.prepare(Audio(small), max_seconds=5)
    again = await audio.prepare(Audio(small), max_bytes=len(converted.data), max_seconds=5)
    # Exactly the limit, after the conversion too (Opus output differs only in its stream serial).
    assert len(again.data) == len(converted.data)
    assert audio.too_long(60) == "That recording is too long for me (1 minutes at most)."
    assert audio.too_long(59) == "That recording is too long for me (59 seconds at most)."


async def test_bytes_ffmpeg_cannot_decode_either_are_unreadable() -> None:
    with pytest.raises(BadInputError) as caught:
        await audio.prepare(Audio(bytes(range(256)) * 8, "audio/x-unknown"))
    assert caught.value.message == "I couldn't read that audio file — is it a voice recording?"


async def test_a_wav_claiming_more_than_its_bytes_is_measured_by_its_samples(
    recordings: dict[str, bytes],
) -> None:
    wav = recordings["wav"]
    size_at = wav.index(b"data") + 4
    claimed = int.from_bytes(wav[size_at : size_at + 4], "little") * 11 // 10  # 10 % more
    overclaiming = wav[:size_at] + claimed.to_bytes(4, "little") + wav[size_at + 4 :]
    assert await audio.duration(overclaiming, "wav") == pytest.approx(SECONDS, abs=0.05)
