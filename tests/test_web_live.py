"""The web chat's live avatar in headless Chromium: a real WebRTC stream from the fake D-ID.

The fake streams server (tests/fakes/did_streams.py) is an aiortc peer on 127.0.0.1; Chromium
reaches it over loopback with host candidates only: mDNS hiding of local addresses off, loopback
allowed, no STUN/TURN. To refresh the README's screenshot, run
`AVATARBOT_LIVE_SCREENSHOT=docs/web-live.png .venv/bin/pytest tests/test_web_live.py -k first`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from bot.platforms import web_live
from bot.wiring import Core, open_core
from core.avatar.script import estimate_seconds, sentences, spoken_script
from tests.fakes.did import FakeDID
from tests.fakes.did_streams import AGENT_ID, COLOURS, FakeDidStreams
from tests.fakes.groq import FakeGroq
from tests.harness import serving_web, settings_for
from tests.test_web_browser import ANSWER, CHROMIUM, SECRET, launch, metadata_loaded

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package (`make test` installs it)"
)
GROQ_REPLY = ANSWER
# WebRTC between Chromium and a peer on loopback: real addresses in candidates (no mDNS
# `.local` names), loopback candidates allowed, camera/microphone prompts answered.
WEBRTC_FLAGS = [
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
]
LIVE = re.compile(r"^Live$")
# Resolves once a frame of the <video> shows `colour` (the fake's marker of a sentence).
SHOWS_COLOUR = """(video, colour) => new Promise((resolve) => {
  const canvas = Object.assign(document.createElement("canvas"), {width: 32, height: 24});
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const check = () => {
    context.drawImage(video, 0, 0, 32, 24);
    const pixel = context.getImageData(16, 18, 1, 1).data;
    if (colour.every((value, i) => Math.abs(pixel[i] - value) < 40)) resolve(true);
    else video.requestVideoFrameCallback(check);
  };
  video.requestVideoFrameCallback(check);
})"""


@pytest.fixture
async def streams() -> AsyncIterator[FakeDidStreams]:
    async with FakeDidStreams() as fake:
        yield fake


@asynccontextmanager
async def serving(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, **overrides: Any
) -> AsyncIterator[tuple[str, Core]]:
    """The web chat with its live avatar on the fakes; yields its address and the core."""
    settings = settings_for(
        tmp_path,
        groq,
        did,
        WEB_ENABLED=True,
        DID_AGENT_ID=AGENT_ID,
        DID_STREAMS_BASE_URL=streams.base_url,
        **overrides,
    )
    async with open_core(settings) as core:
        async with serving_web(core, SECRET, live=web_live(core)) as adapter:
            yield f"http://127.0.0.1:{adapter.port}/", core


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", *WEBRTC_FLAGS]
    async with async_playwright() as playwright:
        launched = await launch(playwright, args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A phone-sized page; fails the test on a JS error."""
    context = await browser.new_context(viewport={"width": 420, "height": 820})
    errors: list[str] = []
    opened = await context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert not errors


async def go_live(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#connection")).to_have_text("Online")
    await expect(page.locator("#live-state")).to_have_text(LIVE, timeout=10_000)


async def ask(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def shows(video: Locator, colour: tuple[int, int, int]) -> None:
    assert await video.evaluate(SHOWS_COLOUR, list(colour)) is True


async def answered(page: Page) -> Locator:
    answer = page.locator(".msg.bot").last
    await expect(answer.locator(".text")).to_have_text(ANSWER)
    return answer


async def test_the_avatar_speaks_live_after_the_first_sentence(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    async with serving(tmp_path, groq, did, streams) as (url, _):
        await go_live(page, url)
        video = page.locator("#live-video")
        assert await video.evaluate("v => v.muted") is True  # no interaction yet: muted
        gate = groq.hold(after_chunks=3)  # "Hi! I'm Ava, ": the first sentence is complete
        await ask(page, "Who are you?")
        await streams.wait_for(lambda: len(streams.spoken) == 1)
        assert [s.text for s in streams.spoken] == ["Hi!"]
        await shows(video, COLOURS[0])  # its frames reach the page while the answer streams
        assert await video.evaluate("v => v.muted") is False  # the send counted
        gate.set()
        answer = await answered(page)
        await streams.wait_for(lambda: len(streams.spoken) == 3)
        assert [s.text for s in streams.spoken] == sentences(ANSWER)
        await shows(video, COLOURS[2])
        await page.screenshot(path=tmp_path / "web-live.png")
        if target := os.environ.get("AVATARBOT_LIVE_SCREENSHOT"):
            await page.screenshot(path=target)
        await expect(answer.locator("video")).to_have_count(0)  # said live: no clip
        assert not did.talks
        await page.click("#live-mute")
        assert await video.evaluate("v => v.muted") is True


@pytest.mark.parametrize("status", [402, 429])
async def test_auto_falls_back_to_clips_when_d_id_refuses_the_stream(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, status: int
) -> None:
    streams.refuse_next(status)
    async with serving(tmp_path, groq, did, streams) as (url, _):
        await page.goto(url)
        line = page.locator(".notice.live")
        await expect(line).to_have_count(1)
        await expect(line).to_contain_text("videos come as clips instead")
        await expect(page.locator("#live")).to_have_attribute("data-state", "failed")
        await ask(page, "Who are you?")
        answer = await answered(page)
        await metadata_loaded(answer.locator("video"))  # the clip path took over
        assert len(did.talks) == 1 and not streams.spoken
        assert len(streams.streams) == 0  # auto: no second try on this page


async def test_auto_falls_back_to_clips_when_ice_never_completes(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    streams.answer_ice = False
    async with serving(tmp_path, groq, did, streams) as (url, _):
        await page.goto(url)
        line = page.locator(".notice.live")
        await expect(line).to_have_text(re.compile("couldn't connect"), timeout=15_000)
        (stream,) = streams.streams.values()
        await streams.wait_for(lambda: stream.deleted)  # closed at D-ID after the 5 s
        assert stream.answered
        await ask(page, "Who are you?")
        answer = await answered(page)
        await metadata_loaded(answer.locator("video"))
        assert len(did.talks) == 1 and not streams.spoken


async def test_a_reload_reopens_the_stream(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    async with serving(tmp_path, groq, did, streams) as (url, _):
        await go_live(page, url)
        (first,) = streams.streams.values()
        await page.reload()
        await expect(page.locator("#live-state")).to_have_text(LIVE, timeout=10_000)
        await streams.wait_for(lambda: first.deleted)
        assert len(streams.open_streams) == 1 and streams.open_streams[0] is not first
        await ask(page, "Who are you?")
        await answered(page)
        await streams.wait_for(lambda: len(streams.spoken) == 3)
        assert {s.stream for s in streams.spoken} == {streams.open_streams[0].id}
    assert not streams.open_streams  # the server's stop closed the stream at D-ID


async def test_streamed_seconds_count_against_the_daily_budget(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    said = sentences(ANSWER)
    allowed = math.ceil(sum(estimate_seconds(s) for s in said[:2]))  # the third does not fit
    limits = {"AVATAR_DAILY_SECONDS_PER_USER": allowed}
    async with serving(tmp_path, groq, did, streams, **limits) as (url, core):
        await go_live(page, url)
        await ask(page, "Who are you?")
        answer = page.locator(".msg.bot")
        await expect(answer.locator(".text")).to_contain_text("The avatar stops here")
        await streams.wait_for(lambda: len(streams.spoken) == 2)
        today = await core.conversations.stats()
        assert "1 videos" in today, today
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        counted = await core.storage.counters.get(day, "*", "render_ms")
        assert counted == sum(math.ceil(estimate_seconds(s) * 1000) for s in said[:2])
        await expect(answer.locator("video")).to_have_count(0)
        assert [s.text for s in streams.spoken] == said[:2] and not did.talks


async def test_past_did_max_streams_a_page_gets_clips(
    browser: Browser, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    async with serving(tmp_path, groq, did, streams, DID_MAX_STREAMS=1) as (url, _):
        contexts = [await browser.new_context(), await browser.new_context()]
        first, second = [await context.new_page() for context in contexts]
        await go_live(first, url)
        await second.goto(url)
        line = second.locator(".notice.live")
        await expect(line).to_have_text(re.compile("All live avatars are in use"))
        await ask(second, "Who are you?")
        await metadata_loaded((await answered(second)).locator("video"))
        assert len(streams.streams) == 1 and len(did.talks) == 1
        for context in contexts:
            await context.close()


async def test_an_idle_stream_closes_and_the_next_message_reopens_it(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    async with serving(tmp_path, groq, did, streams, WEB_STREAM_IDLE_SECONDS=1) as (url, _):
        await go_live(page, url)
        (first,) = streams.streams.values()
        await expect(page.locator("#live")).to_have_attribute("data-state", "idle")
        await streams.wait_for(lambda: first.deleted)  # no stream billed while nobody talks
        await ask(page, "Who are you?")
        await answered(page)
        await streams.wait_for(lambda: len(streams.spoken) == 3)
        assert len(streams.streams) == 2 and not did.talks
        assert {s.stream for s in streams.spoken} != {first.id}


async def test_stream_mode_tries_again_with_the_next_message(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    streams.refuse_next(429)
    async with serving(tmp_path, groq, did, streams, WEB_AVATAR_MODE="stream") as (url, _):
        await page.goto(url)
        await expect(page.locator(".notice.live")).to_contain_text("busy right now")
        await ask(page, "Who are you?")  # the stream opens again first, then says the answer
        await expect(page.locator("#live-state")).to_have_text(LIVE, timeout=10_000)
        await answered(page)
        await streams.wait_for(lambda: len(streams.spoken) == 3)
        assert not did.talks


async def test_switching_the_avatar_off_closes_the_stream(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    async with serving(tmp_path, groq, did, streams) as (url, _):
        await go_live(page, url)
        await page.locator("#avatar").uncheck()
        await streams.wait_for(lambda: not streams.open_streams)
        await expect(page.locator("#live")).to_be_hidden()
        await page.locator("#avatar").check()
        await expect(page.locator("#live-state")).to_have_text(LIVE, timeout=10_000)
        assert len(streams.streams) == 2


async def test_a_stream_failing_mid_answer_hands_the_answer_to_a_clip(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> None:
    streams.refuse_speech(500, after=1)  # the first sentence is said, then D-ID fails
    async with serving(tmp_path, groq, did, streams) as (url, core):
        await go_live(page, url)
        await ask(page, "Who are you?")
        answer = await answered(page)
        await expect(page.locator(".notice.live")).to_contain_text("videos come as clips instead")
        await metadata_loaded(answer.locator("video"))  # the whole answer, as a clip
        assert [s.text for s in streams.spoken] == ["Hi!"] and len(did.talks) == 1
        await streams.wait_for(lambda: not streams.open_streams)
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        said = math.ceil(estimate_seconds("Hi!") * 1000)
        clip = math.ceil(spoken_script(ANSWER, 45).seconds * 1000)
        # The refused sentence was given back; the clip holds its own seconds.
        assert await core.storage.counters.get(day, "*", "render_ms") == said + clip
        await ask(page, "And now?")  # auto: clips for the rest of the page's life
        await metadata_loaded((await answered(page)).locator("video"))
        assert len(streams.streams) == 1 and len(did.talks) == 2
