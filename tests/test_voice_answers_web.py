"""Voice answers on the web: a `voice` WebSocket message, its OGG served to its conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from adapters.web.app import WebAdapter
from bot.wiring import open_core
from core.types import ConversationKey
from tests import test_web_browser as browser
from tests.fakes.groq import FakeGroq
from tests.harness import serving_web, settings_for
from tests.test_web_browser import metadata_loaded, open_chat

page = browser.page  # headless Chromium (skipped where Debian's chromium is missing)

SECRET = "voice-answers-web-test-secret-0123456789"


async def voice_mode(key: ConversationKey) -> str | None:
    return "voice"


@pytest.fixture
async def web(tmp_path: Path, groq: FakeGroq) -> AsyncIterator[WebAdapter]:
    settings = settings_for(tmp_path, groq, None, WEB_ENABLED=True, TTS_ENABLED=True)
    async with open_core(settings, reply_mode=voice_mode) as core:
        async with serving_web(core, SECRET) as adapter:
            yield adapter


async def ask(ws: aiohttp.ClientWebSocketResponse, text: str, turn: str) -> list[dict[str, Any]]:
    """Send a text turn; the messages up to its voice answer."""
    await ws.send_json({"type": "text", "turn": turn, "text": text})
    got: list[dict[str, Any]] = []
    while not got or got[-1]["type"] not in ("voice", "error"):
        got.append(await ws.receive_json(timeout=5))
    return got


async def test_the_voice_answer_follows_the_final_text_and_is_served_to_its_conversation(
    web: WebAdapter,
) -> None:
    root = f"http://127.0.0.1:{web.port}"
    alice, bob = web.ids.sign("alice-conversation-1"), web.ids.sign("bob-conversation-22")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{root}/ws", params={"conversation": alice}) as ws:
            assert (await ws.receive_json(timeout=5))["state"] == "ready"
            messages = await ask(ws, "Who are you?", "t1")
        final, voice = messages[-2], messages[-1]
        assert final["type"] == "final"
        assert voice["type"] == "voice" and voice["turn"] == "t1" and voice["seconds"] > 0
        assert "note" not in voice
        url = f"{root}/{voice['url']}"
        assert voice["url"].startswith("media/voice/")
        async with session.get(url) as response:
            assert response.status == 200 and response.content_type == "audio/ogg"
            assert (await response.read())[28:36] == b"OpusHead"
        assert "alice" not in url  # signed for this note alone: it opens no conversation
        bare = url.split("?")[0]
        async with session.get(f"{bare}?conversation={alice}") as response:
            assert response.status == 200  # the links of older pages still play
        for query in (f"conversation={bob}", "conversation=alice-conversation-1", "sig=x"):
            async with session.get(f"{bare}?{query}") as response:
                assert response.status == 404, query  # another's id, unsigned, forged
        name = voice["url"].split("/")[-1].split(".")[0]
        forged = url.replace(name, "0" * 16 + name[16:])
        async with session.get(forged) as response:
            assert response.status == 404


@browser.pytestmark
async def test_the_page_plays_the_voice_answer_under_its_answer(
    web: WebAdapter, page: Page, tmp_path: Path
) -> None:
    await open_chat(page, f"http://127.0.0.1:{web.port}/")
    await page.fill("#text", "Who are you?")
    await page.press("#text", "Enter")
    answer = page.locator(".msg.bot")
    await expect(answer.locator(".text")).to_have_text("You said: Who are you?")
    audio = answer.locator("audio[controls]")
    await expect(audio).to_have_count(1)
    await metadata_loaded(audio)  # Chromium decoded the OGG/Opus the server sent
    duration = await audio.evaluate("a => a.duration")
    assert 1.0 < duration < 3.0
    await page.screenshot(path=tmp_path / "voice-answer.png")
