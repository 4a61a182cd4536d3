"""The web page's photo button in headless Chromium: shown when photos are answered, and sent."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import FilePayload, Page, expect

from bot.wiring import open_core
from tests import test_web_browser as browser
from tests.fakes.groq import FakeGroq
from tests.harness import serving_web, settings_for
from tests.photos import png
from tests.test_web_browser import SECRET, open_chat

pytestmark = browser.pytestmark
page = browser.page  # a phone-sized page
chat_url = browser.chat_url  # the chat without VISION_MODEL
VISION = "qwen/qwen3.6-27b"
GROQ_REPLY = "A tiny grey picture."


@asynccontextmanager
async def serving_photos(tmp_path: Path, groq: FakeGroq) -> AsyncIterator[str]:
    """The web chat with VISION_MODEL set, served by the adapter on the wired core."""
    settings = settings_for(tmp_path, groq, None, WEB_ENABLED=True, VISION_MODEL=VISION)
    async with open_core(settings) as core, serving_web(core, SECRET) as adapter:
        yield f"http://127.0.0.1:{adapter.port}/"


async def test_a_picked_photo_goes_with_the_typed_caption(
    page: Page, tmp_path: Path, groq: FakeGroq
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    image = png()
    async with serving_photos(tmp_path, groq) as url:
        await open_chat(page, url)
        await expect(page.locator("#photo")).to_be_visible()
        await page.fill("#text", "What is it?")
        file = FilePayload(name="grey.png", mimeType="image/png", buffer=image)
        await page.set_input_files("#photo-file", files=[file])
        await expect(page.locator(".msg.user .text")).to_have_text("📷 What is it?")
        await expect(page.locator(".msg.bot .text")).to_have_text(GROQ_REPLY)
        await expect(page.locator("#text")).to_have_value("")
        (body,) = groq.chat_bodies
    assert body["model"] == VISION
    url_part = {"url": "data:image/png;base64," + base64.b64encode(image).decode()}
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": url_part},
    ]
    assert not errors


async def test_no_photo_button_without_a_vision_model(page: Page, chat_url: str) -> None:
    await open_chat(page, chat_url)
    await expect(page.locator("#photo")).to_be_hidden()
