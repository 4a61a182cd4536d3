"""The web chat's limits per client IP and for the whole server, against the running web server.

Each test builds the web adapter from settings as `avatarbot run` does, on the wired core with
fake Groq, and talks to it with aiohttp's WebSocket client. The per-minute windows count on a
clock the test holds still, so no test depends on where in a minute it runs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.web.app import WebAdapter
from adapters.web.limits import BUSY, TOO_FAST, TOO_MANY_TABS, TOO_MUCH_AUDIO, Limiter
from bot.run import configured_adapters
from bot.wiring import Core, open_core
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for

Message = dict[str, Any]
GROQ_REPLY = "Short answer."
PROXY = {"WEB_TRUSTED_PROXIES": "127.0.0.1/32"}


def wav(seconds: float, rate: int = 16_000) -> bytes:
    """A silent mono 16-bit WAV: about 32 KB a second, a format Whisper takes as it is."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(int(rate * seconds) * 2))
    return out.getvalue()


@asynccontextmanager
async def web_for(tmp_path: Path, groq: FakeGroq, **settings: Any) -> AsyncIterator[WebAdapter]:
    """The web adapter `avatarbot run` builds from these settings, serving on a free port."""
    config = settings_for(tmp_path, groq, None, WEB_ENABLED=True, WEB_PORT=0, **settings)
    (factory,) = configured_adapters(config)
    async with open_core(config) as core:
        adapter = factory(core)
        assert isinstance(adapter, WebAdapter)
        hold_still(adapter)
        await start(core, adapter)
        try:
            yield adapter
        finally:
            await core.runner.drain(0)  # as `avatarbot run` stops
            await adapter.stop()


def hold_still(adapter: WebAdapter) -> None:
    """Count every window on a clock that does not move."""
    adapter.chat.limiter = Limiter(adapter.chat.limiter.limits, clock=lambda: 1000.0)


async def start(core: Core, adapter: WebAdapter) -> None:
    await core.start_jobs({"web": adapter.delivery})
    await adapter.start()


class Client:
    """Sockets from one client address (X-Forwarded-For, believed only from a trusted proxy)."""

    def __init__(self, session: aiohttp.ClientSession, adapter: WebAdapter, ip: str = "") -> None:
        self.session, self.url = session, f"http://127.0.0.1:{adapter.port}/ws"
        self.headers = {"X-Forwarded-For": ip} if ip else {}
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def connect(
        self, conversation: str = ""
    ) -> tuple[aiohttp.ClientWebSocketResponse, Message]:
        params = {"conversation": conversation} if conversation else {}
        ws = await self.session.ws_connect(self.url, params=params, headers=self.headers)
        self.sockets.append(ws)
        return ws, await ws.receive_json(timeout=5)

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()


async def outcome(ws: aiohttp.ClientWebSocketResponse, turn: str) -> Message:
    """The message that ends `turn`: its final text, or an error."""
    return (await outcomes(ws, [turn]))[0]


async def outcomes(ws: aiohttp.ClientWebSocketResponse, turns: list[str]) -> list[Message]:
    """The messages that end each of `turns` (in any order), in the order of `turns`."""
    ends: dict[str, Message] = {}
    while len(ends) < len(turns):
        message: Message = await ws.receive_json(timeout=10)
        if message["turn"] in turns and message["type"] in ("final", "error"):
            ends[message["turn"]] = message
    return [ends[turn] for turn in turns]


async def test_fresh_conversation_ids_buy_no_fresh_quota(tmp_path: Path, groq: FakeGroq) -> None:
    # The attack that worked before ids were signed: 30 made-up ids, 2 messages each, each id
    # a quota of its own. Now every id is a new signed one, and the IP is counted as well.
    limits = {"USER_MESSAGES_PER_MINUTE": 2, "WEB_IP_MESSAGES_PER_MINUTE": 2}
    async with web_for(tmp_path, groq, **limits) as web, aiohttp.ClientSession() as session:
        client, ends, issued = Client(session, web), [], set()
        for n in range(30):
            ws, ready = await client.connect(f"rotating-id-{n:04d}")
            issued.add(ready["conversation"])
            assert not ready["conversation"].startswith("rotating")  # the server's own id
            for turn in ("a", "b"):
                await ws.send_json({"type": "text", "turn": turn, "text": "hi"})
                ends.append(await outcome(ws, turn))
            await ws.close()
    answered = [end for end in ends if end["type"] == "final"]
    refused = [end for end in ends if end.get("code") == "rate_limited"]
    assert len(issued) == 30 and len(answered) == 2 and len(refused) == 58
    assert {end["message"] for end in refused} == {TOO_FAST}
    assert len(groq.chat_bodies) == 2


async def test_one_ip_flooding_messages_is_refused_and_others_are_not(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = {"WEB_IP_MESSAGES_PER_MINUTE": 5, **PROXY}
    async with web_for(tmp_path, groq, **settings) as web, aiohttp.ClientSession() as session:
        flooder, other = Client(session, web, "203.0.113.7"), Client(session, web, "198.51.100.2")
        ws, _ = await flooder.connect()
        for n in range(12):  # sent at once, not waiting for answers
            await ws.send_json({"type": "text", "turn": f"t{n}", "text": "spam"})
        ends = await outcomes(ws, [f"t{n}" for n in range(12)])
        calm, _ = await other.connect()
        await calm.send_json({"type": "text", "turn": "c1", "text": "hello"})
        assert (await outcome(calm, "c1"))["type"] == "final"
        await flooder.close()
        await other.close()
    assert [end["type"] for end in ends] == ["final"] * 5 + ["error"] * 7
    assert {(end["code"], end["message"]) for end in ends[5:]} == {("rate_limited", TOO_FAST)}


async def test_one_ip_flooding_audio_bytes_is_refused(tmp_path: Path, groq: FakeGroq) -> None:
    settings = {"WEB_IP_AUDIO_MB_PER_MINUTE": 1, **PROXY}
    voice = base64.b64encode(wav(12)).decode()  # ~384 KB of audio
    async with web_for(tmp_path, groq, **settings) as web, aiohttp.ClientSession() as session:
        flooder, other = Client(session, web, "203.0.113.7"), Client(session, web, "198.51.100.2")
        ws, _ = await flooder.connect()
        for n in range(3):
            await ws.send_json(
                {"type": "audio", "turn": f"v{n}", "mime": "audio/wav", "data": voice}
            )
        ends = await outcomes(ws, [f"v{n}" for n in range(3)])
        calm, _ = await other.connect()
        await calm.send_json({"type": "audio", "turn": "c1", "mime": "audio/wav", "data": voice})
        assert (await outcome(calm, "c1"))["type"] == "final"
        await ws.send_bytes(wav(12))  # binary frames count too
        assert (await ws.receive_json(timeout=5))["message"] == TOO_MUCH_AUDIO
        await flooder.close()
        await other.close()
    assert [end["type"] for end in ends] == ["final", "final", "error"]
    assert (ends[2]["code"], ends[2]["message"]) == ("rate_limited", TOO_MUCH_AUDIO)
    assert len(groq.calls("/audio/transcriptions")) == 3


async def test_audio_held_at_once_is_bounded_and_refused_as_busy(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = {"WEB_AUDIO_MB_IN_FLIGHT": 1, **PROXY}
    voice = base64.b64encode(wav(20)).decode()  # ~640 KB: two do not fit in 1 MB
    frame = {"type": "audio", "mime": "audio/wav", "data": voice}
    async with web_for(tmp_path, groq, **settings) as web, aiohttp.ClientSession() as session:
        first, second = Client(session, web, "203.0.113.7"), Client(session, web, "198.51.100.2")
        gate = groq.hold()
        a, _ = await first.connect()
        await a.send_json({**frame, "turn": "a1"})
        assert (await a.receive_json(timeout=5))["type"] == "transcript"  # held while answered
        b, _ = await second.connect()
        await b.send_json({**frame, "turn": "b1"})
        busy = await outcome(b, "b1")
        assert (busy["code"], busy["message"]) == ("busy", BUSY)
        gate.set()
        assert (await outcome(a, "a1"))["type"] == "final"
        await asyncio.wait_for(_released(web), 5)
        await b.send_json({**frame, "turn": "b2"})  # room again once the first is answered
        assert (await outcome(b, "b2"))["type"] == "final"
        await first.close()
        await second.close()


async def _released(web: WebAdapter) -> None:
    while web.chat.limiter.in_flight:  # noqa: ASYNC110 (the turn's task ends just after its final)
        await asyncio.sleep(0.01)


async def test_too_many_sockets_from_one_ip(tmp_path: Path, groq: FakeGroq) -> None:
    settings = {"WEB_IP_SOCKETS": 2, "WEB_MAX_SOCKETS": 3, **PROXY}
    async with web_for(tmp_path, groq, **settings) as web, aiohttp.ClientSession() as session:
        tabs, other = Client(session, web, "203.0.113.7"), Client(session, web, "198.51.100.2")
        first, _ = await tabs.connect()
        await tabs.connect()
        third, refused = await tabs.connect()
        assert (refused["code"], refused["message"]) == ("too_many_sockets", TOO_MANY_TABS)
        closing = await third.receive(timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4429
        _, ready = await other.connect()  # another address is not held up
        assert ready["state"] == "ready"
        _, full = await Client(session, web, "192.0.2.9").connect()  # 3 open: the server's cap
        assert full["code"] == "too_many_sockets" and "full" in full["message"]
        await first.close()
        _, again = await tabs.connect()  # a tab closed: room for one more
        assert again["state"] == "ready"
        await tabs.close()
        await other.close()


@pytest.mark.parametrize("trusted", [False, True])
async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    tmp_path: Path, groq: FakeGroq, trusted: bool
) -> None:
    settings = {"WEB_IP_SOCKETS": 1, **(PROXY if trusted else {})}
    async with web_for(tmp_path, groq, **settings) as web, aiohttp.ClientSession() as session:
        one, two = Client(session, web, "203.0.113.7"), Client(session, web, "198.51.100.2")
        _, first = await one.connect()
        _, second = await two.connect()
        # A client writing its own X-Forwarded-For gets its address as the proxy saw it.
        spoofed = Client(session, web, "192.0.2.1, 203.0.113.7")
        _, third = await spoofed.connect()
        for client in (one, two, spoofed):
            await client.close()
    assert first["state"] == "ready"
    # Untrusted, the headers are ignored: every socket is 127.0.0.1's, and the second is refused.
    assert second.get("state" if trusted else "code") == (
        "ready" if trusted else "too_many_sockets"
    )
    assert third["code"] == "too_many_sockets"


async def test_limit_settings_reach_the_adapter(tmp_path: Path, groq: FakeGroq) -> None:
    config = settings_for(
        tmp_path,
        groq,
        None,
        WEB_ENABLED=True,
        WEB_IP_AUDIO_MB_PER_MINUTE="",
        WEB_IP_SOCKETS="3",
        WEB_AUDIO_MB_IN_FLIGHT="2.5",
    )
    (factory,) = configured_adapters(config)
    async with open_core(config) as core:
        adapter = factory(core)
        assert isinstance(adapter, WebAdapter)
        limits = adapter.chat.limiter.limits
    assert limits.ip_audio_bytes_per_minute is None and limits.ip_sockets == 3
    assert limits.audio_bytes_in_flight == int(2.5 * 1024 * 1024)
    assert limits.ip_messages_per_minute == 20 and limits.max_sockets == 1000  # the defaults
