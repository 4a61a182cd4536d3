"""The D-ID streams client and the streamed-seconds budget against the fake Agents Streams server.

The browser's side of the WebRTC connection is played by an aiortc peer here; the page itself
is tested in tests/test_web_live.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from adapters.web import text_frames
from adapters.web.frames import ProtocolError
from adapters.web.live_protocol import StreamFrame
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import DidStreamsClient, LiveStream, StreamError
from core.limits import Limits
from core.storage.sqlite_counters import SqliteCounters
from tests.fakes.did_streams import AGENT_ID, COLOURS, FakeDidStreams
from tests.test_database import open_db


@pytest.fixture
async def streams() -> AsyncIterator[FakeDidStreams]:
    async with FakeDidStreams() as fake:
        yield fake


@pytest.fixture
async def client(streams: FakeDidStreams) -> AsyncIterator[DidStreamsClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield DidStreamsClient(
            http, api_key=streams.api_key, base_url=streams.base_url, agent_id=AGENT_ID
        )


@pytest.fixture
async def peer() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection()
    try:
        yield pc
    finally:
        await pc.close()


async def connect(
    client: DidStreamsClient, pc: RTCPeerConnection
) -> tuple[LiveStream, asyncio.Event]:
    """Open a stream and answer it as a browser would; the event is set on the first frame."""
    stream = await client.create()
    framed = asyncio.Event()
    tracks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: object) -> None:
        if getattr(track, "kind", "") == "video":

            async def first() -> None:
                await track.recv()  # type: ignore[attr-defined]
                framed.set()

            tracks.append(asyncio.create_task(first(), name="first-frame"))

    await pc.setRemoteDescription(RTCSessionDescription(stream.offer["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await client.answer(stream, {"type": "answer", "sdp": pc.localDescription.sdp})
    await client.ice(stream, {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
    return stream, framed


async def test_a_stream_connects_speaks_and_closes(
    client: DidStreamsClient, streams: FakeDidStreams, peer: RTCPeerConnection
) -> None:
    stream, framed = await connect(client, peer)
    assert stream.id.startswith("strm_") and stream.session_id.startswith("AWSALB=")
    assert stream.ice_servers == () and "127.0.0.1" in stream.offer["sdp"]
    await asyncio.wait_for(framed.wait(), 10)
    await client.speak(stream, "Hello there.", "en-US-JennyNeural")
    await streams.wait_for(lambda: len(streams.spoken) == 1)
    assert [(s.text, s.voice) for s in streams.spoken] == [("Hello there.", "en-US-JennyNeural")]
    assert streams.streams[stream.id].video.speaking == 0 and COLOURS
    await client.close(stream)
    assert streams.streams[stream.id].deleted
    await client.close(stream)  # gone already: fine


@pytest.mark.parametrize("status", [402, 429, 401, 403, 500])
async def test_a_refused_stream_raises_with_one_line(
    client: DidStreamsClient, streams: FakeDidStreams, status: int
) -> None:
    streams.refuse_next(status)
    with pytest.raises(StreamError) as refused:
        await client.create()
    assert refused.value.status == status
    assert refused.value.line.endswith("videos come as clips instead.")


async def test_the_session_cookie_must_come_back(
    client: DidStreamsClient, streams: FakeDidStreams
) -> None:
    stream = await client.create()
    wrong = LiveStream(stream.id, "AWSALB=someone-else", stream.offer)
    with pytest.raises(StreamError) as refused:
        await client.speak(wrong, "Hi.", "en-US-JennyNeural")
    assert (refused.value.status, refused.value.kind) == (400, "SessionError")
    assert not streams.spoken


async def test_streams_past_the_accounts_limit_are_refused(
    client: DidStreamsClient, streams: FakeDidStreams
) -> None:
    streams.max_streams = 1
    first = await client.create()
    with pytest.raises(StreamError) as refused:
        await client.create()
    assert refused.value.status == 429
    await client.close(first)
    await client.close(await client.create())  # a slot again


async def test_streamed_seconds_count_against_the_daily_budgets(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "budget.db")
    try:
        counters = SqliteCounters(db)
        budget = StreamBudget(counters, Limits(renders_per_user=5, seconds_per_user=10))
        answer = budget.answer("web:ip-a")
        first = await answer.reserve(4.0)
        second = await answer.reserve(4.0)
        assert not isinstance(first, str) and not isinstance(second, str)
        refused = await answer.reserve(4.0)  # 12 s would pass the user's 10 s
        assert isinstance(refused, str) and "your seconds" in refused
        day = first.charges[0].period
        assert await counters.get(day, "web:ip-a", "renders") == 1  # one answer, one video
        assert await counters.get(day, "web:ip-a", "render_ms") == 8000
        assert await counters.get(day, "*", "render_credits") == 1  # 8 s: one started 15 s
        await answer.give_back(second)  # D-ID refused the sentence
        assert await counters.get(day, "web:ip-a", "render_ms") == 4000
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ({"type": "stream_answer", "answer": {"type": "offer", "sdp": "v=0"}}, "SDP answer"),
        ({"type": "stream_answer", "stream": "3", "answer": {}}, '"stream" must be'),
        ({"type": "stream_ice", "candidates": [{"sdpMid": "0"}]}, '"candidate" line'),
        ({"type": "stream_ice", "candidates": [{"candidate": "c"}] * 33}, "at most 32"),
        ({"type": "stream_state", "state": "maybe"}, '"connected" or "failed"'),
    ],
)
def test_malformed_stream_frames_get_one_line(frame: dict[str, object], says: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        text_frames.parse_text(json.dumps(frame | {"turn": "s1"}), max_text_chars=100)
    assert says in refused.value.message and refused.value.turn == "s1"
    assert refused.value.code == "bad_frame"


def test_stream_frames_parse() -> None:
    ice = {"type": "stream_ice", "stream": 2, "done": True, "candidates": [
        {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0",
         "sdpMLineIndex": 0, "usernameFragment": "ab"}]}  # fmt: skip
    frame = text_frames.parse_text(json.dumps(ice), max_text_chars=100)
    assert isinstance(frame, StreamFrame) and frame.stream == 2 and frame.done
    assert frame.candidates == (
        {"candidate": ice["candidates"][0]["candidate"], "sdpMid": "0", "sdpMLineIndex": 0},  # type: ignore[index]
    )
