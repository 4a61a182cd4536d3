"""Photos in the web chat: the `image` frame through the wired core, against fake Groq."""

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adapters.web import frames, messages, text_frames
from bot.wiring import Core, open_core
from core.images import MAX_IMAGE_BYTES, TOO_BIG
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import running_bot, settings_for, web_listening
from tests.photos import png
from tests.test_web_protocol import MAX_CHARS, Browser, web_chat

VISION = "qwen/qwen3.6-27b"
GROQ_REPLY = "A tiny grey picture."


@pytest.fixture
async def core(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> AsyncIterator[Core]:
    settings = settings_for(
        tmp_path, groq, did, WEB_ENABLED=True, MAX_MESSAGE_CHARS=MAX_CHARS, VISION_MODEL=VISION
    )
    async with open_core(settings) as core:
        yield core


@pytest.fixture
async def browser(core: Core) -> AsyncIterator[Browser]:
    async with web_chat(core) as adapter, aiohttp.ClientSession() as session:
        browser = Browser(session, adapter)
        yield browser
        await browser.aclose()


def image_frame(turn: str, data: bytes, text: str = "") -> dict[str, str]:
    encoded = base64.b64encode(data).decode()
    return {"type": "image", "turn": turn, "mime": "image/png", "data": encoded, "text": text}


async def test_an_image_frame_is_answered_by_the_vision_model(
    browser: Browser, core: Core, groq: FakeGroq
) -> None:
    tab, ready = await browser.open()
    assert ready["photos"] is True
    image = png()
    await tab.send(image_frame("p1", image, "What is it?"))
    answer = await tab.answer("p1")
    assert answer[-1] == {"type": "final", "turn": "p1", "text": GROQ_REPLY}
    (body,) = groq.chat_bodies
    assert body["model"] == VISION
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    await tab.until(lambda m: m.get("state") == "rendering")
    recordings = core.settings.media_dir / "inbox"
    async with asyncio.timeout(5):  # the photo's file goes once the turn is answered
        while list(recordings.iterdir()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_large_or_malformed_image_frame_gets_one_error(
    browser: Browser, groq: FakeGroq
) -> None:
    tab, _ = await browser.open()
    await tab.send(image_frame("big", b"\xff\xd8\xff" + b"\0" * MAX_IMAGE_BYTES))
    (refused,) = await tab.answer("big")
    assert refused == messages.error("big", TOO_BIG, "too_large")
    await tab.send({"type": "image", "turn": "none"})
    (missing,) = await tab.answer("none")
    assert missing["code"] == "bad_frame" and "needs" in missing["message"]
    assert groq.chat_bodies == []


async def test_without_vision_model_the_page_is_told_and_a_photo_gets_one_line(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = settings_for(tmp_path, groq, None, WEB_ENABLED=True)
    async with open_core(settings) as core, web_chat(core) as adapter:
        async with aiohttp.ClientSession() as session:
            browser = Browser(session, adapter)
            tab, ready = await browser.open()
            assert ready["photos"] is False
            await tab.send(image_frame("p1", png()))
            (failed,) = await tab.answer("p1")
            await browser.aclose()
    assert failed["type"] == "error" and "can't look at photos" in failed["message"]
    assert groq.chat_bodies == []


async def test_a_photo_cut_by_a_stop_is_answered_from_its_file_on_restart(
    tmp_path: Path, groq: FakeGroq
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(
        tmp_path,
        groq,
        None,
        WEB_ENABLED=True,
        WEB_PORT=port,
        SHUTDOWN_GRACE_SECONDS=0,
        VISION_MODEL=VISION,
    )
    url = f"ws://127.0.0.1:{port}/ws"

    async with aiohttp.ClientSession() as session:
        groq.hold()
        async with running_bot(settings):
            await web_listening(session, port)
            async with session.ws_connect(url) as ws:
                await ws.receive_json(timeout=5)  # ready
                await ws.send_json(image_frame("p1", png(), "Still there?"))
                await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        groq.release()
        async with running_bot(settings):  # the unanswered photo is answered on start
            await groq.wait_for(lambda: len(groq.chat_bodies) == 2)
    first, second = groq.chat_bodies
    assert second["messages"][-1] == first["messages"][-1]
    assert second["messages"][-1]["content"][0] == {"type": "text", "text": "Still there?"}


def test_image_frames_parse() -> None:
    raw = '{"type": "image", "turn": "p", "mime": "image/png", "data": "iVBORw0KGgo="'
    raw += ', "text": " Hi "}'
    assert text_frames.parse_text(raw, max_text_chars=10) == frames.ImageFrame(
        "p", b"\x89PNG\r\n\x1a\n", "image/png", "Hi"
    )
    long = '{"type": "image", "turn": "p", "data": "iVBORw0KGgo=", "text": "' + "x" * 11 + '"}'
    with pytest.raises(frames.ProtocolError) as raised:
        text_frames.parse_text(long, max_text_chars=10)
    assert raised.value.code == "too_long"
