"""The web chat page in headless Chromium (Debian's package) against fake Groq and D-ID.

Each test saves a screenshot in its tmp_path. To refresh the README's screenshot, run
`AVATARBOT_SCREENSHOT=docs/web-chat.png .venv/bin/pytest tests/test_web_page.py -k readme`.
"""

from __future__ import annotations

import math
import os
import re
import struct
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, Playwright, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from adapters.web.access import AccessSettings
from bot.wiring import open_core
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import serving_web, settings_for

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_TIMEOUT_MS = 10_000  # a launch takes about a second; the test's own limit is 30 s


async def launch(playwright: Playwright, args: list[str]) -> Browser:
    """Headless Chromium. A launch that hangs (seen once in about 400 under `make test`) is
    given up by Playwright, which kills that browser, and tried once more."""
    try:
        return await chromium(playwright, args)
    except PlaywrightTimeout:
        return await chromium(playwright, args)


async def chromium(playwright: Playwright, args: list[str]) -> Browser:
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=args, timeout=LAUNCH_TIMEOUT_MS
    )


ANSWER = "Hi! I'm Ava, a talking avatar. Ask me anything and I'll say the answer out loud."
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"
SECRET = "browser-test-secret-0123456789abcdef0123"
TOKEN = "browser-access-token-0123456789"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package (`make test` installs it)"
)

GROQ_REPLY = ANSWER  # what the fake model answers (tests/conftest.py)


def write_tone(path: Path, seconds: float = 1.0, rate: int = 48_000) -> None:
    """A mono 16-bit WAV of a 440 Hz tone, for Chromium's fake microphone."""
    samples = (
        int(12_000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


@asynccontextmanager
async def serving(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, token: str | None = None
) -> AsyncIterator[str]:
    """The web chat's address, served by the adapter on the wired core."""
    settings = settings_for(tmp_path, groq, did, WEB_ENABLED=True)
    async with open_core(settings) as core:
        async with serving_web(core, SECRET, access=AccessSettings(token=token)) as adapter:
            yield f"http://127.0.0.1:{adapter.port}/"


@pytest.fixture
async def chat_url(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> AsyncIterator[str]:
    async with serving(tmp_path, groq, did) as url:
        yield url


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    """A phone-sized page in headless Chromium with a fake microphone playing a tone."""
    tone = tmp_path / "tone.wav"
    write_tone(tone)
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone}",
    ]
    async with async_playwright() as playwright:
        browser = await launch(playwright, args)
        context = await browser.new_context(viewport={"width": 420, "height": 760})
        try:
            yield await context.new_page()
        finally:
            await context.close()
            await browser.close()


async def open_chat(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#connection")).to_have_text("Online")


async def screenshot(page: Page, tmp_path: Path) -> None:
    await page.screenshot(path=tmp_path / "web-chat.png")
    if target := os.environ.get("AVATARBOT_SCREENSHOT"):
        await page.screenshot(path=target)


async def test_typed_question_streams_then_the_video_loads(
    page: Page, chat_url: str, groq: FakeGroq, did: FakeDID, tmp_path: Path
) -> None:
    await open_chat(page, chat_url)
    gate = groq.hold(after_chunks=3)
    did.hold_renders = True
    await page.fill("#text", "Who are you?")
    await page.press("#text", "Enter")
    await expect(page.locator(".msg.user")).to_have_text("Who are you?")
    answer = page.locator(".msg.bot")
    await expect(answer).to_have_class(re.compile(r"\bstreaming\b"))
    await expect(answer.locator(".text")).to_have_text("Hi! I'm Ava, ")
    gate.set()
    await expect(answer.locator(".text")).to_have_text(ANSWER)
    await expect(answer).not_to_have_class(re.compile(r"\bstreaming\b"))
    await expect(answer.locator(".note.rendering")).to_be_visible()
    await did.wait_for(lambda: len(did.talks) == 1)
    did.release_all()
    video = answer.locator("video[controls][playsinline]")
    await expect(video).to_have_count(1)
    await expect(answer.locator(".note")).to_have_count(0)
    await metadata_loaded(video)
    await screenshot(page, tmp_path)

    await page.reload()  # the conversation and its video survive a reload
    await expect(page.locator(".msg.bot .text")).to_have_text(ANSWER)
    await metadata_loaded(page.locator(".msg.bot video"))


async def metadata_loaded(video: Locator) -> None:
    """Wait for the video's metadata; the page's CSP forbids wait_for_function's string eval."""
    loaded = await video.evaluate(
        "v => v.readyState >= 1 || new Promise(resolve =>"
        " v.addEventListener('loadedmetadata', () => resolve(true), {once: true}))"
    )
    assert loaded is True


async def test_recorded_voice_message_shows_its_transcript(
    page: Page, chat_url: str, groq: FakeGroq, tmp_path: Path
) -> None:
    await open_chat(page, chat_url)
    record = page.locator("#record")
    await record.click()  # a click starts recording; the next click sends it
    await expect(record).to_have_class(re.compile(r"\brecording\b"))
    await expect(record).to_have_attribute("data-recorded", re.compile(r"^[1-9]\d*$"))
    await record.click()
    await expect(record).not_to_have_class(re.compile(r"\brecording\b"))
    voice = page.locator(".msg.user.voice")
    await expect(voice).to_have_text("hello there")
    await expect(page.locator(".msg.bot .text")).to_have_text(ANSWER)
    (upload,) = [call.file for call in groq.calls("/audio/transcriptions")]
    assert upload is not None and upload.head.startswith(WEBM_MAGIC)  # MediaRecorder's WebM
    await screenshot(page, tmp_path)


async def test_avatar_switch_and_reset(
    page: Page, chat_url: str, groq: FakeGroq, did: FakeDID
) -> None:
    await open_chat(page, chat_url)
    switch = page.locator("#avatar")
    await expect(switch).to_be_checked()
    await switch.uncheck()
    await page.fill("#text", "No video please")
    await page.press("#text", "Enter")
    await expect(page.locator(".msg.bot .text")).to_have_text(ANSWER)
    await open_chat(page, chat_url)  # a reload: the server remembers the switch
    await expect(switch).not_to_be_checked()
    await expect(page.locator(".msg")).to_have_count(2)
    await page.click("#reset")
    await page.get_by_role("dialog").get_by_role("button", name="Clear").click()
    await expect(page.locator(".msg")).to_have_count(0)
    await expect(page.locator(".empty")).to_be_visible()
    assert not did.talks


async def test_the_token_leaves_every_url_once_the_session_cookie_is_set(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    async with serving(tmp_path, groq, did, token=TOKEN) as url:
        urls: list[str] = []
        page.on("websocket", lambda ws: urls.append(ws.url))
        page.on("request", lambda request: urls.append(request.url))
        await open_chat(page, f"{url}?token={TOKEN}")
        assert page.url == url  # gone from the address bar (and so from history and bookmarks)
        (session,) = [c for c in await page.context.cookies() if c["name"] == "avatarbot_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert TOKEN not in session["value"] and not session["secure"]  # plain http here
        await page.fill("#text", "Who are you?")
        await page.press("#text", "Enter")
        video = page.locator(".msg.bot video")
        await expect(video).to_have_count(1)
        await metadata_loaded(video)  # served on the cookie alone
        assert TOKEN not in (await video.get_attribute("src") or "")
        stored = await page.evaluate("localStorage.getItem('avatarbot.conversation')")
        assert re.fullmatch(r'"[0-9a-f]{32}\.[A-Za-z0-9_-]{32}"', stored or "")  # signed
        await open_chat(page, url)  # a reload without the token: the cookie is enough
        await expect(page.locator(".msg.bot .text")).to_have_text(ANSWER)
    sent_token = [u for u in urls if TOKEN in u]
    assert sent_token == [f"{url}?token={TOKEN}"]  # the link itself, then never again
