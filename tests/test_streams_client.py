"""The D-ID Agents Streams client's signalling against the fake streams server, no WebRTC peer:
the bodies it sends, the sticky session, which refusals it retries, and D-ID's error bodies read
into one line. Answers D-ID never gives on purpose (a create without its fields, a body that is
not JSON) come from a small local server.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from core.avatar.streams import DidStreamsClient, LiveStream, StreamError
from tests.fakes.did_streams import AGENT_ID, FakeDidStreams

VOICE = "en-US-JennyNeural"


@pytest.fixture
async def streams() -> AsyncIterator[FakeDidStreams]:
    async with FakeDidStreams() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def client(http: httpx.AsyncClient, base_url: str, api_key: str) -> DidStreamsClient:
    return DidStreamsClient(http, api_key=api_key, base_url=base_url + "/", agent_id=AGENT_ID)


@pytest.fixture
def did(streams: FakeDidStreams, http: httpx.AsyncClient) -> DidStreamsClient:
    return client(http, streams.base_url, streams.api_key)


Answer = Callable[[web.Request], web.Response]


class Odd:
    """A local server answering every request with the last `answer`; records what came."""

    def __init__(self) -> None:
        self.answers: list[Answer] = [lambda request: web.json_response({})]
        self.seen: list[tuple[str, str, str | None, Any]] = []  # method, path, auth, JSON
        self.base = ""

    def serve(self, answer: Answer) -> str:
        self.answers.append(answer)
        return self.base

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization")
        self.seen.append((request.method, request.path, auth, body))
        return self.answers[-1](request)


@pytest.fixture
async def odd() -> AsyncIterator[Odd]:
    server = Odd()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        server.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield server
    finally:
        await runner.cleanup()


async def test_a_stream_is_created_answered_and_spoken_into_on_its_session(
    did: DidStreamsClient, streams: FakeDidStreams
) -> None:
    streams.answer_ice = False  # the answer is taken, no WebRTC peer is connected
    stream = await did.create()
    fake = streams.streams[stream.id]
    assert stream.session_id == fake.session_id and stream.offer["type"] == "offer"
    assert stream.ice_servers == ()
    await did.answer(stream, {"type": "answer", "sdp": "v=0\r\n"})
    assert fake.answered
    await did.ice(stream, {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
    assert fake.candidates == 1
    await did.speak(stream, "Hello there.", VOICE)
    await streams.wait_for(lambda: len(streams.spoken) == 1)
    assert [(s.stream, s.text, s.voice) for s in streams.spoken] == [
        (stream.id, "Hello there.", VOICE)
    ]
    base = f"/agents/{AGENT_ID}/streams"
    assert streams.calls == [
        ("POST", base),
        ("POST", f"{base}/{stream.id}/sdp"),
        ("POST", f"{base}/{stream.id}/ice"),
        ("POST", f"{base}/{stream.id}"),
    ]
    await did.close(stream)
    assert fake.deleted and streams.calls[-1] == ("DELETE", f"{base}/{stream.id}")


async def test_a_wrong_key_is_refused_with_its_line(
    streams: FakeDidStreams, http: httpx.AsyncClient
) -> None:
    with pytest.raises(StreamError) as refused:
        await client(http, streams.base_url, "wrong:key").create()
    assert (refused.value.status, refused.value.kind) == (401, "AuthorizationError")
    assert refused.value.detail == "Unauthorized"
    assert str(refused.value) == "401 AuthorizationError Unauthorized"


@pytest.mark.parametrize(
    ("status", "kind", "detail", "line"),
    [
        (
            402,
            "InsufficientCreditsError",
            "not enough credits",
            "The live avatar is out of D-ID credits — videos come as clips instead.",
        ),
        (
            429,
            "TooManyRequestsError",
            "too many requests",
            "The live avatar is busy right now — videos come as clips instead.",
        ),
        (
            401,
            "AuthorizationError",
            "Unauthorized",
            "The live avatar isn't allowed for this server — videos come as clips instead.",
        ),
        (
            403,
            "",
            "Forbidden",
            "The live avatar isn't allowed for this server — videos come as clips instead.",
        ),
        (
            500,
            "InternalServerError",
            "Stream Error",
            "The live avatar couldn't start — videos come as clips instead.",
        ),
    ],
    ids=["402", "429", "401", "403", "500"],
)
async def test_each_refused_stream_reads_d_id_s_body_into_its_line(
    did: DidStreamsClient, streams: FakeDidStreams, status: int, kind: str, detail: str, line: str
) -> None:
    streams.refuse_next(status)
    with pytest.raises(StreamError) as refused:
        await did.create()
    error = refused.value
    assert (error.status, error.kind, error.detail, error.line) == (status, kind, detail, line)
    assert not streams.streams


@pytest.mark.parametrize(
    ("status", "attempts"),
    [(500, 2), (429, 2), (400, 1), (404, 1)],
    ids=["500", "429", "400", "404"],
)
async def test_speaking_is_tried_again_only_after_a_429_or_a_5xx(
    did: DidStreamsClient, streams: FakeDidStreams, status: int, attempts: int
) -> None:
    stream = await did.create()
    streams.refuse_speech(status)
    with pytest.raises(StreamError) as refused:
        await did.speak(stream, "Hello there.", VOICE)
    assert refused.value.status == status
    assert streams.speak_requests == attempts
    assert not streams.spoken


async def test_a_sentence_whose_answer_timed_out_is_not_sent_again(
    streams: FakeDidStreams,
) -> None:
    streams.answer_delay = 1.0  # D-ID queued the sentence; its answer comes too late
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.2)) as http:
        did = client(http, streams.base_url, streams.api_key)
        stream = await did.create()
        with pytest.raises(StreamError) as lost:
            await did.speak(stream, "Hello there.", VOICE)
    assert (lost.value.status, lost.value.kind, lost.value.unconfirmed) == (
        None,
        "ReadTimeout",
        True,
    )
    assert streams.speak_requests == 1  # said once, not twice
    await streams.wait_for(lambda: len(streams.spoken) == 1)


@pytest.mark.parametrize("status", [502, 504])
async def test_a_sentence_a_gateway_failed_is_not_sent_again(
    http: httpx.AsyncClient, odd: Odd, status: int
) -> None:
    did = client(http, odd.serve(lambda r: web.json_response({"message": "m"}, status=status)), "k")
    with pytest.raises(StreamError) as lost:
        await did.speak(LiveStream("strm_1", "AWSALB=x", {}), "Hi.", VOICE)
    assert lost.value.unconfirmed
    assert len(odd.seen) == 1


async def test_speaking_after_one_refusal_goes_on(
    did: DidStreamsClient, streams: FakeDidStreams
) -> None:
    stream = await did.create()
    await did.speak(stream, "One.", VOICE)
    streams.refuse_speech(500, after=1)
    with pytest.raises(StreamError):
        await did.speak(stream, "Two.", VOICE)
    assert streams.speak_requests == 3


async def test_a_stream_that_is_gone_closes_quietly_but_a_wrong_session_does_not(
    did: DidStreamsClient, streams: FakeDidStreams
) -> None:
    stream = await did.create()
    wrong = LiveStream(stream.id, "AWSALB=someone-else", stream.offer)
    with pytest.raises(StreamError) as refused:
        await did.close(wrong)
    assert (refused.value.status, refused.value.kind) == (400, "SessionError")
    assert not streams.streams[stream.id].deleted
    await did.close(stream)
    await did.close(stream)  # 404 now: already closed
    assert streams.streams[stream.id].deleted


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_that_cannot_be_reached_is_a_stream_error_without_status(
    http: httpx.AsyncClient,
) -> None:
    dead = client(http, f"http://127.0.0.1:{free_port()}", "k:s")
    with pytest.raises(StreamError) as refused:
        await dead.create()
    assert (refused.value.status, refused.value.kind) == (None, "ConnectError")
    assert refused.value.line == "The live avatar couldn't start — videos come as clips instead."
    stream = LiveStream("strm_1", "AWSALB=x", {})
    with pytest.raises(StreamError) as unreached:
        await dead.speak(stream, "Hi.", VOICE)  # retried, then given up
    assert unreached.value.status is None


def text(status: int, body: str) -> Answer:
    return lambda request: web.Response(status=status, text=body)


@pytest.mark.parametrize(
    ("answer", "kind", "detail"),
    [
        (text(502, "<html>Bad Gateway</html>"), "", "<html>Bad Gateway</html>"),
        (text(500, "x" * 300), "", "x" * 200),
        (lambda r: web.json_response(["a"], status=500), "", '["a"]'),
        (lambda r: web.json_response({"kind": "K"}, status=500), "K", '{"kind": "K"}'),
        (
            lambda r: web.json_response(
                {"kind": "K", "description": "d", "message": "m"}, status=500
            ),
            "K",
            "d",
        ),
        (lambda r: web.json_response({"message": "m"}, status=504), "", "m"),
    ],
    ids=["html", "long text", "a list", "kind only", "description first", "gateway message"],
)
async def test_any_error_body_becomes_a_kind_and_a_detail(
    http: httpx.AsyncClient, odd: Odd, answer: Answer, kind: str, detail: str
) -> None:
    with pytest.raises(StreamError) as refused:
        await client(http, odd.serve(answer), "k:s").create()
    assert (refused.value.kind, refused.value.detail) == (kind, detail)


@pytest.mark.parametrize(
    "body",
    [{}, {"id": "strm_1", "session_id": "s"}, {"id": "strm_1", "session_id": "s", "offer": 3}],
    ids=["empty", "no offer", "offer not an object"],
)
async def test_a_create_answer_without_its_fields_is_a_bad_response(
    http: httpx.AsyncClient, odd: Odd, body: dict[str, Any]
) -> None:
    base = odd.serve(lambda request: web.json_response(body))
    with pytest.raises(StreamError) as refused:
        await client(http, base, "k:s").create()
    assert (refused.value.status, refused.value.kind) == (None, "BadResponse")
    assert refused.value.detail == f"create answered {body!r:.200}"


async def test_a_create_answer_is_read_field_by_field(http: httpx.AsyncClient, odd: Odd) -> None:
    offer, servers = {"type": "offer", "sdp": "v=0"}, [{"urls": ["stun:stun.example.com"]}]
    created = {"id": 7, "session_id": 8, "offer": offer, "ice_servers": servers}
    stream = await client(http, odd.serve(lambda r: web.json_response(created)), "k:s").create()
    assert stream == LiveStream("7", "8", offer, tuple(servers))
    path = f"/agents/{AGENT_ID}/streams"
    assert odd.seen == [("POST", path, "Basic k:s", {"stream_warmup": False})]


async def test_each_call_sends_the_session_and_d_id_s_fields(
    http: httpx.AsyncClient, odd: Odd
) -> None:
    did = client(http, odd.serve(text(200, "OK")), "k:s")  # a success that is not JSON: fine
    stream = LiveStream("strm_1", "AWSALB=s", {})
    await did.answer(stream, {"type": "answer", "sdp": "v=0"})
    await did.ice(stream, {"candidate": "candidate:1", "sdpMid": "0", "sdpMLineIndex": 1, "x": 2})
    await did.ice(stream, {})
    await did.speak(stream, "Hi.", VOICE)
    await did.close(stream)
    path = f"/agents/{AGENT_ID}/streams/strm_1"
    session = {"session_id": "AWSALB=s"}
    script = {"type": "text", "input": "Hi.", "provider": {"type": "microsoft", "voice_id": VOICE}}
    assert odd.seen == [
        (
            "POST",
            path + "/sdp",
            "Basic k:s",
            session | {"answer": {"type": "answer", "sdp": "v=0"}},
        ),
        (
            "POST",
            path + "/ice",
            "Basic k:s",
            session | {"candidate": "candidate:1", "sdpMid": "0", "sdpMLineIndex": 1},
        ),
        (
            "POST",
            path + "/ice",
            "Basic k:s",
            session | {"candidate": None, "sdpMid": None, "sdpMLineIndex": None},
        ),
        ("POST", path, "Basic k:s", session | {"script": script}),
        ("DELETE", path, "Basic k:s", session),
    ]
