"""The web chat against clients that misbehave on purpose: they stall, hog or hoard.

Each test runs the web adapter `avatarbot run` builds (tests/test_web_limits.py's `web_for`) on
the wired core with fake Groq, and drives it with aiohttp's WebSocket client.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import socket
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from adapters.web.access import AccessSettings, networks
from adapters.web.app import WebAdapter
from adapters.web.identity import tag
from adapters.web.limits import TOO_MANY_FACES, Limiter
from adapters.web.platform import message_key
from bot.logs import RedactingFilter
from bot.platforms import web_live
from bot.run import configured_adapters
from bot.wiring import open_core
from core.avatar.live import ALL_IN_USE
from core.types import ConversationKey
from tests import test_web_protocol as protocol_tests
from tests.fakes.did import FakeDID
from tests.fakes.did_streams import AGENT_ID, FakeDidStreams
from tests.fakes.groq import FakeGroq
from tests.fakes.images import make_jpeg
from tests.harness import serving_web, settings_for
from tests.test_web_exposure import handshake
from tests.test_web_limits import PROXY, Client, hold_still, outcome, start, wav, web_for
from tests.test_web_protocol import ALICE, SECRET, Browser

core, web, browser = protocol_tests.core, protocol_tests.web, protocol_tests.browser


@pytest.fixture
async def streams() -> AsyncIterator[FakeDidStreams]:
    async with FakeDidStreams() as fake:
        yield fake


Message = dict[str, Any]


def tiny_window(addr_info: Any) -> socket.socket:
    """A client socket with a receive buffer of a few KB: it stops the server's writes quickly."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


def send_within(web: WebAdapter, seconds: float) -> None:
    """Give each send to a tab `seconds` before the tab counts as stalled (on a still clock)."""
    limits = dataclasses.replace(web.chat.limiter.limits, send_seconds=seconds)
    web.chat.limiter = Limiter(limits, clock=lambda: 1000.0)


async def test_a_tab_that_stops_reading_is_dropped_and_frees_what_its_turn_held(
    tmp_path: Path, groq: FakeGroq
) -> None:
    # A client can stop reading while its socket stays up (its frames keep the heartbeat quiet):
    # without a bound on each send, its turn would wait on it for ever, holding its audio.
    groq.reply = ("x" * 60 + " ") * 65_536  # 4 MB of answer: more than the socket buffers hold
    groq.words_per_chunk = 4096
    settings = {"WEB_AUDIO_MB_IN_FLIGHT": 1, "LLM_MAX_TOKENS": 65_536, **PROXY}
    voice = base64.b64encode(wav(20)).decode()  # ~640 KB: two do not fit in 1 MB
    frame = {"type": "audio", "mime": "audio/wav", "data": voice}
    stalled = aiohttp.TCPConnector(socket_factory=tiny_window)
    async with (
        web_for(tmp_path, groq, **settings) as web,
        aiohttp.ClientSession(connector=stalled) as slow_session,
        aiohttp.ClientSession() as session,
    ):
        send_within(web, 0.5)
        hog = Client(slow_session, web, "203.0.113.7")
        ws, _ = await hog.connect()
        await ws.send_json({**frame, "turn": "h1"})  # and never reads again
        await asyncio.wait_for(_taken(web), 10)
        await asyncio.wait_for(_released(web), 10)
        other = Client(session, web, "198.51.100.2")
        calm, _ = await other.connect()
        groq.reply = "Short answer."
        await calm.send_json({**frame, "turn": "c1"})
        end = await outcome(calm, "c1")
        assert end["type"] == "final", end
        await other.close()
        await hog.close()


async def _taken(web: WebAdapter) -> None:
    while not web.chat.running:  # noqa: ASYNC110 (the frame is on its way)
        await asyncio.sleep(0.01)


async def _released(web: WebAdapter) -> None:
    while web.chat.limiter.in_flight or web.chat.running:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_frames_cannot_come_deflated(tmp_path: Path, groq: FakeGroq) -> None:
    # With permessage-deflate, 33 KB on the wire inflate to a 34 MB frame on the event loop,
    # before the per-client limits see it: a thousandfold lever on the server's CPU and memory.
    bomb = '{"type": "text", "turn": "t1", "text": "' + "A" * 34_000_000 + '"}'
    async with web_for(tmp_path, groq, **PROXY) as web, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{web.port}/ws"
        async with session.ws_connect(url, compress=15) as ws:
            assert ws.compress == 0  # the server declined the extension
            assert (await ws.receive_json(timeout=5))["state"] == "ready"
            await ws.send_str(bomb)  # sent as it is: 34 MB on the wire, the attacker's cost
            refused = await ws.receive_json(timeout=10)
    assert (refused["turn"], refused["code"]) == ("t1", "too_long")


async def test_face_photos_per_address_are_bounded_however_many_conversations(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    # Each face is kept in the database (up to 10 MB) until reset and uploaded to D-ID, and a
    # new conversation costs nothing: one address could otherwise store faces without end.
    config = settings_for(tmp_path, groq, did, WEB_ENABLED=True, WEB_PORT=0, **PROXY)
    (factory,) = configured_adapters(config)
    face = {"type": "face", "data": base64.b64encode(make_jpeg()).decode()}
    async with open_core(config) as core, aiohttp.ClientSession() as session:
        web = factory(core)
        assert isinstance(web, WebAdapter)
        hold_still(web)
        await start(core, web)
        try:
            client, answers = Client(session, web, "2001:db8:1:2::7"), []
            for n in range(7):  # a fresh conversation each time, and a fresh address in the /64
                client.headers["X-Forwarded-For"] = f"2001:db8:1:2::{n + 1:x}"
                ws, _ = await client.connect()
                await ws.send_json({**face, "turn": f"f{n}"})
                answers.append(await ws.receive_json(timeout=5))
                await ws.close()
            other, _ = await Client(session, web, "198.51.100.2").connect()
            await other.send_json({**face, "turn": "o1"})
            assert (await other.receive_json(timeout=5))["type"] == "face"
            await other.close()
        finally:
            await core.runner.drain(0)
            await web.stop()
    assert [answer["type"] for answer in answers] == ["face"] * 5 + ["error"] * 2
    assert {(a["code"], a["message"]) for a in answers[5:]} == {("rate_limited", TOO_MANY_FACES)}
    assert len(did.images) == 6


async def test_a_video_link_opens_that_video_and_not_its_conversation(browser: Browser) -> None:
    # A video's address gets copied ("Copy video address"), shared and written to proxy logs.
    # Holding it must not let anyone join the conversation: read its answers as they stream,
    # talk in it or reset it.
    tab, _ = await browser.open()
    await tab.ask("hello", "t1")
    video = (await tab.until(lambda m: m["type"] == "video"))[-1]
    link = f"{browser.root}/{video['url']}"
    async with browser.session.get(link) as response:
        assert response.status == 200 and response.content_type == "video/mp4"
    assert ALICE not in link  # the conversation's base alone carries it over (an old page's id)
    for _, value in parse_qsl(urlsplit(link).query):
        _, ready = await browser.open(value)
        assert ready["conversation"] != browser.alice
    other = link.replace(f"/{video['job']}.mp4", "/2.mp4")
    async with browser.session.get(other) as response:
        assert response.status == 404  # the link is for its one video


async def test_one_address_holds_one_live_stream_however_many_conversations(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    # D-ID bills a stream while it is open and the server opens DID_MAX_STREAMS at most: one
    # address with a tab per fresh conversation could otherwise hold every one of them.
    config = settings_for(
        tmp_path,
        groq,
        did,
        WEB_ENABLED=True,
        DID_AGENT_ID=AGENT_ID,
        DID_STREAMS_BASE_URL=streams.base_url,
        DID_MAX_STREAMS=4,
    )
    access = AccessSettings(trusted_proxies=networks(["127.0.0.1/32"]))
    async with (
        open_core(config) as core,
        serving_web(core, SECRET, live=web_live(core), access=access) as web,
        aiohttp.ClientSession() as session,
    ):
        hog, other = Client(session, web, "203.0.113.7"), Client(session, web, "198.51.100.2")
        told = []
        for _ in range(3):  # three tabs, each its own conversation
            ws, _ = await hog.connect()
            await ws.send_json({"type": "stream_open"})
            told.append(await ws.receive_json(timeout=5))
        ws, _ = await other.connect()
        await ws.send_json({"type": "stream_open"})
        assert (await ws.receive_json(timeout=5))["state"] == "opening"
        await hog.close()
        await other.close()
    assert [message["state"] for message in told] == ["opening", "failed", "failed"]
    assert told[1]["message"] == ALL_IN_USE


async def test_forwarded_addresses_with_ports_count_per_client(
    tmp_path: Path, groq: FakeGroq
) -> None:
    # Azure Application Gateway forwards `X-Forwarded-For: IP:port` ("a comma-separated list of
    # IP:Port", azure.microsoft.com/en-us/blog/rewrite-http-headers-with-azure-application-gateway):
    # read as malformed, every client would count as the proxy, sharing one address's budgets.
    async with (
        web_for(tmp_path, groq, WEB_IP_SOCKETS=1, **PROXY) as web,
        aiohttp.ClientSession() as session,
    ):
        hops = ["203.0.113.7:50123", "198.51.100.2:4000", "[2001:db8:1:2::7]:443"]
        firsts = [await Client(session, web, hop).connect() for hop in hops]
        again = Client(session, web, "203.0.113.7:50999")  # the same client, another port
        _, refused = await again.connect()
        for ws, _ in firsts:
            await ws.close()
        await again.close()
    assert [ready["state"] for _, ready in firsts] == ["ready"] * 3
    assert refused["code"] == "too_many_sockets"


def test_a_web_conversation_id_is_hashed_in_every_form_the_logs_hold_it() -> None:
    # The base alone carries its conversation over (an old page's id): it is a credential in
    # each form the core writes it, as a message key (`<base>/<turn>`), in a task's name, or in
    # a key's repr inside a traceback.
    base = "3f9c0d1e2b3a49586f7e8d9cab0e1f2a"
    key = ConversationKey("web", base)
    record = logging.LogRecord("core.turns", logging.ERROR, "", 0, "%s; %s; %s", None, None)
    record.args = (
        f"answering web message {message_key(base, 't1')} failed",  # core/turns.py
        f"Task was destroyed but it is pending! task: <Task name='turn-web-{base}/t1'>",
        f"turn in {key} failed",
    )
    try:
        raise RuntimeError(f"no preferences for {key!r}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactingFilter([]).filter(record)
    assert base not in record.getMessage() and base not in (record.exc_text or "")
    assert record.getMessage().count(tag(base)) == 3 and tag(base) in (record.exc_text or "")


async def test_a_frame_of_many_small_objects_is_refused_unparsed(
    tmp_path: Path, groq: FakeGroq
) -> None:
    # `[{},{},…]` makes a dict of every 3 bytes: parsed, a 33 MB frame took 800 MB and 8 s of
    # the GIL. Nothing a client may send needs more than a bounded JSON besides its base64.
    blob = ",".join(["{}"] * 1_400_000)  # 4 MB
    frame = f'{{"type": "text", "turn": "t1", "text": "hi", "x": [{blob}]}}'
    async with web_for(tmp_path, groq, **PROXY) as web, aiohttp.ClientSession() as session:
        ws, _ = await Client(session, web).connect()
        tracemalloc.start()
        try:
            await ws.send_str(frame)
            refused = await ws.receive_json(timeout=30)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        await ws.close()
    assert (refused["turn"], refused["code"]) == ("t1", "too_long")
    assert peak < 40 * 1024 * 1024  # the frame and a copy or two, not 1.4 million dicts


async def test_a_site_rebinding_its_name_to_this_machine_cannot_open_the_local_chat(
    tmp_path: Path, groq: FakeGroq
) -> None:
    # Served to this machine only (loopback, no token), the chat trusts the browser: a page of
    # evil.example whose name the attacker's DNS turns into 127.0.0.1 would be same-origin with
    # itself, and spend this bot's credits from the user's browser.
    async with web_for(tmp_path, groq) as web:
        port = web.port
        rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        assert await handshake(web, rebound) == 403
        for name in ("localhost", "127.0.0.1", "[::1]"):
            local = {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}
            assert await handshake(web, local) == 101, name
    async with web_for(tmp_path / "public", groq, WEB_PUBLIC=True) as web:
        port = web.port
        rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        assert await handshake(web, rebound) == 101  # open to everyone on purpose
