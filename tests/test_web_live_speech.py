"""What the web chat's live avatar says, and in which voice, through its WebSocket.

The page's side is played by an aiortc peer on the chat's WebSocket (`stream_*` frames), the
streams are the fake D-ID Agents Streams server's, and the core is `open_core`'s: its lingua
detector, voices and preference store, as `avatarbot run` builds them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from adapters.web.app import WebAdapter
from bot.platforms import web_live
from bot.wiring import open_core
from core.avatar.phrases import PHRASES
from core.avatar.script import estimate_seconds, sentences, spoken_script
from tests.fakes.did import FakeDID
from tests.fakes.did_streams import AGENT_ID, FakeDidStreams
from tests.fakes.groq import FakeGroq
from tests.harness import serving_web, settings_for

SECRET = "test-web-secret-0123456789abcdef0123456789"
GERMAN = (
    "Ich bin Ava, ein freundlicher Avatar, und ich beantworte gern deine Fragen zum Wetter. "
    "Frag mich einfach, was du wissen willst."
)


@pytest.fixture
async def streams() -> AsyncIterator[FakeDidStreams]:
    async with FakeDidStreams() as fake:
        yield fake


@pytest.fixture
async def peer() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection()
    try:
        yield pc
    finally:
        await pc.close()


async def web(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, **extra: Any
) -> AsyncIterator[WebAdapter]:
    settings = settings_for(
        tmp_path,
        groq,
        did,
        WEB_ENABLED=True,
        DID_AGENT_ID=AGENT_ID,
        DID_STREAMS_BASE_URL=streams.base_url,
        **extra,
    )
    async with open_core(settings) as core:
        async with serving_web(core, SECRET, live=web_live(core)) as adapter:
            yield adapter


class Tab:
    """A page's WebSocket, read frame by frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)

    async def until(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next frame of `kind` whose fields hold `fields` (others are skipped)."""
        while True:
            message: dict[str, Any] = json.loads((await self.ws.receive(timeout=10)).data)
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message

    async def go_live(self, pc: RTCPeerConnection) -> None:
        """Open the live avatar and answer D-ID's offer as a browser does."""
        await self.send({"type": "stream_open"})
        offer = await self.until("stream_offer")
        await pc.setRemoteDescription(RTCSessionDescription(offer["offer"]["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"type": "answer", "sdp": pc.localDescription.sdp}
        number = offer["stream"]
        await self.send({"type": "stream_answer", "stream": number, "answer": answer})
        await self.send({"type": "stream_ice", "stream": number, "candidates": [], "done": True})
        await self.send({"type": "stream_state", "stream": number, "state": "connected"})
        await self.until("stream", state="live")

    async def ask(self, turn: str, text: str) -> None:
        """Send a question; return once the live avatar said its answer."""
        await self.send({"type": "text", "turn": turn, "text": text})
        await self.until("status", turn=turn, state="spoken")


async def tab_of(adapter: WebAdapter) -> AsyncIterator[Tab]:
    url = f"http://127.0.0.1:{adapter.port}/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        tab = Tab(ws)
        await tab.until("status", state="ready")
        yield tab


async def test_a_german_answer_is_said_live_in_the_german_voice(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, peer: RTCPeerConnection
) -> None:
    groq.reply = GERMAN
    async for adapter in web(tmp_path, groq, did, streams):
        async for tab in tab_of(adapter):
            await tab.go_live(peer)
            await tab.ask("t1", "Wer bist du?")
    assert [s.voice for s in streams.asked] == ["de-DE-KatjaNeural"] * 2
    assert not did.talks  # said live: no clip


async def test_the_voice_a_chat_chose_with_slash_voice_says_its_answers_live(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, peer: RTCPeerConnection
) -> None:
    groq.reply = GERMAN
    async for adapter in web(tmp_path, groq, did, streams):
        async for tab in tab_of(adapter):
            await tab.send({"type": "command", "turn": "c1", "text": "/voice Conrad"})
            chosen = await tab.until("command", turn="c1")
            await tab.go_live(peer)
            await tab.ask("t1", "Wer bist du?")
            await tab.send({"type": "command", "turn": "c2", "text": "/voice Ava"})
            await tab.until("command", turn="c2")
            await tab.ask("t2", "Und jetzt?")
    assert "Conrad" in chosen["text"]
    voices = [s.voice for s in streams.asked]
    assert voices == ["de-DE-ConradNeural"] * 2 + ["en-US-AvaMultilingualNeural"] * 2


async def test_at_avatar_max_seconds_the_live_avatar_says_the_rest_is_in_the_chat(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, peer: RTCPeerConnection
) -> None:
    groq.reply = GERMAN
    first, second = sentences(GERMAN, "de")
    cap = 9.0  # the first sentence and the rest phrase fit, the second does not
    rest = PHRASES["de"].rest
    assert estimate_seconds(first) + estimate_seconds(rest) <= cap
    assert estimate_seconds(first) + estimate_seconds(second) > cap
    async for adapter in web(tmp_path, groq, did, streams, AVATAR_MAX_SECONDS=cap):
        async for tab in tab_of(adapter):
            await tab.go_live(peer)
            await tab.ask("t1", "Wer bist du?")
    assert [s.text for s in streams.asked] == [first, "Der Rest steht im Chat."]
    assert " ".join(s.text for s in streams.asked) == spoken_script(GERMAN, cap, "de").text
    assert {s.voice for s in streams.asked} == {"de-DE-KatjaNeural"} and not did.talks
