"""A local D-ID Agents Streams server for tests: real signalling, and a real WebRTC peer (aiortc).

`FakeDidStreams` speaks D-ID's streaming wire format on 127.0.0.1 (real base
https://api.d-id.com; reference https://docs.d-id.com/reference/agents-streams-overview, and
the bodies of D-ID's own client, github.com/de-id/agents-sdk src/api/streams/streamApi.ts):

    POST   /agents/{agent}/streams               → 200 {id, offer, ice_servers, session_id}
    POST   /agents/{agent}/streams/{id}/sdp      {session_id, answer}   → 200 {status}
    POST   /agents/{agent}/streams/{id}/ice      {session_id, candidate, sdpMid, sdpMLineIndex}
    POST   /agents/{agent}/streams/{id}          {session_id, script}   → 200 {status, duration…}
    DELETE /agents/{agent}/streams/{id}          {session_id}           → 200 {status}

Each stream is an aiortc peer sending a video track (generated frames: grey while idle, a
coloured field with a bar per sentence while speaking) and an audio track. Its only ICE
candidates are host candidates on 127.0.0.1 (no STUN, no TURN: `ice_servers` is empty). It
records what it was asked to say (`asked`) and when it says it (`spoken`), starts saying a
sentence `speak_delay` seconds after it got it, one after another like D-ID's queue, for as
long as the text takes to say. Tests can refuse the next streams (`refuse_next`: 402, 429, …,
with D-ID's error bodies) or the sentences past some (`refuse_speech`), answer speech late
(`answer_delay`: the sentence is said all the same), cap concurrent streams (`max_streams`,
answered 429 past it), or make it never answer ICE (`answer_ice = False`: the answer is taken
but the peer never connects).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aiohttp import web
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

from tests.fakes.did import DEFAULT_API_KEY
from tests.fakes.server import LocalServer

AGENT_ID = "agt_FakeAvatar1"
WIDTH, HEIGHT, FPS = 320, 240, 15
IDLE = (60, 64, 72)
# One colour per sentence, cycling: a test or the bench tells the sentences apart on screen.
COLOURS = ((40, 200, 90), (230, 120, 40), (60, 130, 230), (220, 60, 160))
WORDS_PER_SECOND = 2.5
# D-ID's error bodies: `{kind, description}` (https://docs.d-id.com/reference/errors); a
# gateway refusal (403) comes as `{message}`. The kind D-ID uses past a plan's concurrent
# streams is not documented: a 429 TooManyRequestsError here.
ERRORS: dict[int, dict[str, str]] = {
    400: {"kind": "SessionError", "description": "session_id does not match the stream"},
    401: {"kind": "AuthorizationError", "description": "Unauthorized"},
    402: {"kind": "InsufficientCreditsError", "description": "not enough credits"},
    403: {"message": "Forbidden"},
    404: {"kind": "NotFoundError", "description": "not found"},
    429: {"kind": "TooManyRequestsError", "description": "too many requests"},
    500: {"kind": "InternalServerError", "description": "Stream Error"},
}


@dataclass(frozen=True, slots=True)
class Spoken:
    """A sentence a stream was asked to say; times are `time.monotonic()`."""

    stream: str
    text: str
    voice: str
    received: float
    starts: float
    ends: float


class MarkerTrack(MediaStreamTrack):
    """Generated video: grey while idle, the sentence's colour and a bar while it is spoken."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.speaking: int | None = None  # the index of the sentence being said
        self._count = 0
        self._start: float | None = None
        self._frames: dict[int | None, bytes] = {None: _frame(IDLE, 0)}

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._count += 1
        wait = self._start + self._count / FPS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        key = self.speaking
        if key is not None and key not in self._frames:
            self._frames[key] = _frame(COLOURS[key % len(COLOURS)], key + 1)
        image = _video(self._frames[key])
        image.pts, image.time_base = self._count * (90000 // FPS), fractions.Fraction(1, 90000)
        return image


def _frame(colour: tuple[int, int, int], bars: int) -> bytes:
    """An RGB image: `colour` everywhere, with `bars` white bars near the top (the marker)."""
    row = bytes(colour) * WIDTH
    white = bytes((250, 250, 250)) * 12 + bytes(colour) * 8
    marked = (white * bars + row)[: WIDTH * 3] if bars else row
    return b"".join(marked if 10 <= y < 30 else row for y in range(HEIGHT))


def _video(rgb: bytes) -> VideoFrame:
    frame = VideoFrame(WIDTH, HEIGHT, "rgb24")
    frame.planes[0].update(rgb)
    return frame


@dataclass(slots=True, eq=False)
class FakeStream:
    """One stream: its peer, tracks, session cookie and what it has been told."""

    id: str
    session_id: str
    pc: RTCPeerConnection
    video: MarkerTrack
    created: float
    answered: bool = False
    candidates: int = 0
    deleted: bool = False
    queue: asyncio.Queue[Spoken] = field(default_factory=asyncio.Queue)
    speaker: asyncio.Task[None] | None = None
    said: int = 0


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """aioice gathers host candidates on every interface but loopback: here, loopback alone."""
    gather: Callable[..., list[str]] = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = gather


class FakeDidStreams(LocalServer):
    """D-ID's Agents Streams on 127.0.0.1; `base_url` is what DID_STREAMS_BASE_URL takes."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, agent_id: str = AGENT_ID) -> None:
        self.api_key, self.agent_id = api_key, agent_id
        self.speak_delay = 0.0
        # Seconds a speak request's answer is held after its sentence was queued (a slow answer:
        # D-ID says the sentence though the client may give up waiting).
        self.answer_delay = 0.0
        self.max_streams: int | None = None
        self.answer_ice = True
        self.streams: dict[str, FakeStream] = {}
        self.spoken: list[Spoken] = []
        self.asked: list[Spoken] = []  # every sentence taken, when taken (`spoken`: when said)
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self._refusals: list[int] = []
        self._speech_refusal: tuple[int, int] | None = None  # (status, after this many)
        self.speak_requests = 0  # well-formed speak requests, refused ones included
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._patch: contextlib.ExitStack | None = None
        self.base_url = ""

    # -- test controls ------------------------------------------------------------------------

    def refuse_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` stream creations with `status` and D-ID's error body."""
        self._refusals += [status] * times

    def refuse_speech(self, status: int, after: int = 0) -> None:
        """Answer every speak request past the first `after` ones with `status`."""
        self._speech_refusal = (status, after)

    @property
    def open_streams(self) -> list[FakeStream]:
        return [stream for stream in self.streams.values() if not stream.deleted]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until `condition()` holds, re-checked after every request and sentence."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._patch = contextlib.ExitStack()
        self._patch.enter_context(loopback_only())
        app = web.Application(middlewares=[self._record])
        base = "/agents/{agent}/streams"
        app.router.add_post(base, self._create)
        app.router.add_post(base + "/{id}/sdp", self._sdp)
        app.router.add_post(base + "/{id}/ice", self._ice)
        app.router.add_post(base + "/{id}", self._speak)
        app.router.add_delete(base + "/{id}", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for stream in self.streams.values():
            await self._end(stream)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._patch is not None:
            self._patch.close()
            self._patch = None

    # -- handlers -----------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        try:
            if request.headers.get("Authorization") != f"Basic {self.api_key}":
                return _error(401)
            if request.match_info.get("agent") != self.agent_id:
                return _error(404)
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            self._changed.set()

    async def _create(self, request: web.Request) -> web.Response:
        if self._refusals:
            return _error(self._refusals.pop(0))
        if self.max_streams is not None and len(self.open_streams) >= self.max_streams:
            return _error(429)
        # Like D-ID, no STUN or TURN is needed to reach it: here it is on loopback.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video = MarkerTrack()
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(video)
        await pc.setLocalDescription(await pc.createOffer())
        stream_id = "strm_" + secrets.token_urlsafe(12)
        # D-ID's session_id is its load balancer's cookie, sent back in every body.
        cookie = secrets.token_urlsafe(24)
        session = f"AWSALB={cookie}; Expires=Thu, 01 Jan 2099 00:00:00 GMT; Path=/"
        stream = FakeStream(stream_id, session, pc, video, time.monotonic())
        stream.speaker = asyncio.create_task(self._say(stream), name=f"fake-stream-{stream_id}")
        self.streams[stream_id] = stream
        offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
        return web.json_response(
            {"id": stream_id, "offer": offer, "ice_servers": [], "session_id": session}
        )

    async def _stream(
        self, request: web.Request
    ) -> tuple[FakeStream, dict[str, Any]] | web.Response:
        stream = self.streams.get(request.match_info["id"])
        if stream is None or stream.deleted:
            return _error(404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"kind": "ValidationError", "description": "bad JSON"}, status=400
            )
        if not isinstance(body, dict) or body.get("session_id") != stream.session_id:
            return _error(400)
        return stream, body

    async def _sdp(self, request: web.Request) -> web.Response:
        found = await self._stream(request)
        if isinstance(found, web.Response):
            return found
        stream, body = found
        answer = body.get("answer") or {}
        if answer.get("type") != "answer" or not isinstance(answer.get("sdp"), str):
            return web.json_response(
                {"kind": "ValidationError", "description": "answer"}, status=400
            )
        stream.answered = True
        if self.answer_ice:  # else the peer never takes the answer: ICE never completes
            await stream.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return web.json_response({"status": "success"})

    async def _ice(self, request: web.Request) -> web.Response:
        found = await self._stream(request)
        if isinstance(found, web.Response):
            return found
        stream, body = found
        stream.candidates += 1
        line = body.get("candidate")
        if self.answer_ice and stream.answered:
            if line:
                candidate = candidate_from_sdp(str(line).removeprefix("candidate:"))
                candidate.sdpMid, candidate.sdpMLineIndex = (
                    body.get("sdpMid"),
                    body.get("sdpMLineIndex"),
                )
                await stream.pc.addIceCandidate(candidate)
            else:
                await stream.pc.addIceCandidate(None)
        return web.json_response({"status": "success"})

    async def _speak(self, request: web.Request) -> web.Response:
        found = await self._stream(request)
        if isinstance(found, web.Response):
            return found
        stream, body = found
        script = body.get("script") or {}
        text = script.get("input")
        if script.get("type") != "text" or not isinstance(text, str) or not text.strip():
            return web.json_response(
                {"kind": "ValidationError", "description": "script.input is required"}, status=400
            )
        voice = str((script.get("provider") or {}).get("voice_id") or "")
        self.speak_requests += 1
        if self._speech_refusal is not None and self.speak_requests > self._speech_refusal[1]:
            return _error(self._speech_refusal[0])
        now = time.monotonic()
        seconds = max(0.4, len(text.split()) / WORDS_PER_SECOND)
        spoken = Spoken(
            stream.id, text, voice, now, now + self.speak_delay, now + self.speak_delay + seconds
        )
        stream.queue.put_nowait(spoken)
        self.asked.append(spoken)
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return web.json_response(
            {
                "status": "started",
                "session_id": stream.session_id,
                "duration": seconds,
                "video_id": "vid_" + secrets.token_hex(6),
            }  # fmt: skip
        )

    async def _delete(self, request: web.Request) -> web.Response:
        found = await self._stream(request)
        if isinstance(found, web.Response):
            return found
        await self._end(found[0])
        return web.json_response({"status": "success"})

    async def _say(self, stream: FakeStream) -> None:
        """Say the stream's sentences one after another, each after `speak_delay`."""
        while True:
            sentence = await stream.queue.get()
            start = max(sentence.starts, time.monotonic())
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            seconds = sentence.ends - sentence.starts
            said = Spoken(sentence.stream, sentence.text, sentence.voice, sentence.received,
                          time.monotonic(), time.monotonic() + seconds)  # fmt: skip
            self.spoken.append(said)
            stream.video.speaking = stream.said
            stream.said += 1
            self._changed.set()
            await asyncio.sleep(seconds)
            if stream.queue.empty():
                stream.video.speaking = None
                self._changed.set()

    async def _end(self, stream: FakeStream) -> None:
        stream.deleted = True
        if stream.speaker is not None:
            stream.speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream.speaker
        await stream.pc.close()
        self._changed.set()


def _error(status: int) -> web.Response:
    return web.json_response(ERRORS.get(status, ERRORS[500]), status=status)
