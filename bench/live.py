"""Web: first text delta → first avatar frame of that answer, live (WebRTC) against clips.

The web chat runs with its live avatar on the fakes, in this process (a browser drives it, so
there is no bot process to keep apart), and headless Chromium (Debian's package) opens the page.
The fake D-ID streams server is a real WebRTC peer on loopback that starts saying a sentence
0.5 s after it gets it. For each of 20 answers the page itself times, with `performance.now()`,
the moment the answer's first text appears and the first video frame that shows the avatar
speaking (the fake's frames change colour while it speaks). The clip path is measured in the
same run: with `WEB_AVATAR_MODE=clip` and the fake D-ID rendering each clip in 40 s (as in the
`video` benchmark), first text → the clip's `loadedmetadata` in the page, for 5 answers asked
one after another (their renders overlap, as D-ID runs several at once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright, expect

from adapters.web.app import WebAdapter
from bench.common import Result, percentile
from bot.platforms import web_live
from bot.wiring import open_core
from tests.fakes.did import FakeDID
from tests.fakes.did_streams import AGENT_ID, IDLE, FakeDidStreams
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
]
ANSWERS, CLIPS = 20, 5
SPEAK_DELAY = 0.5
CLIP_RENDER_SECONDS = 40.0
CHUNK_DELAY = 0.03  # the LLM streams a word every 30 ms
TARGET = 2.0
REPLY = "Sure, here it is. The avatar says each sentence once it is complete."
# In the page: resolve with (first text → first speaking frame) in seconds, for the next answer.
TIME_LIVE = """(video, idle) => { window.benchTiming = new Promise((resolve) => {
  const list = document.querySelector("#messages");
  const before = list.querySelectorAll(".msg.bot .text").length;
  let firstText = null;
  const texts = () => list.querySelectorAll(".msg.bot .text");
  new MutationObserver((_, observer) => {
    const all = texts();
    if (all.length > before && all[all.length - 1].textContent) {
      firstText = performance.now();
      observer.disconnect();
    }
  }).observe(list, {subtree: true, childList: true, characterData: true});
  const canvas = Object.assign(document.createElement("canvas"), {width: 32, height: 24});
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const check = () => {
    context.drawImage(video, 0, 0, 32, 24);
    const pixel = context.getImageData(16, 18, 1, 1).data;
    const speaking = idle.some((value, i) => Math.abs(pixel[i] - value) > 40);
    if (firstText !== null && speaking) resolve((performance.now() - firstText) / 1000);
    else video.requestVideoFrameCallback(check);
  };
  video.requestVideoFrameCallback(check);
}); }"""
# In the page: resolve once a frame shows the idle avatar.
IDLE_FRAME = """(video, idle) => new Promise((resolve) => {
  const canvas = Object.assign(document.createElement("canvas"), {width: 32, height: 24});
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const check = () => {
    context.drawImage(video, 0, 0, 32, 24);
    const pixel = context.getImageData(16, 18, 1, 1).data;
    if (idle.every((value, i) => Math.abs(pixel[i] - value) < 40)) resolve(true);
    else video.requestVideoFrameCallback(check);
  };
  video.requestVideoFrameCallback(check);
})"""
# In the page: watch every answer: (first text, clip loaded) times, read later.
WATCH_CLIPS = """() => {
  window.benchClips = new Map();
  const list = document.querySelector("#messages");
  new MutationObserver(() => {
    for (const node of list.querySelectorAll(".msg.bot")) {
      const seen = window.benchClips.get(node) ?? {};
      if (!seen.text && node.querySelector(".text").textContent) seen.text = performance.now();
      const video = node.querySelector("video");
      if (video && !seen.watched) {
        seen.watched = true;
        video.addEventListener("loadedmetadata", () => { seen.loaded = performance.now(); });
      }
      window.benchClips.set(node, seen);
    }
  }).observe(list, {subtree: true, childList: true, characterData: true});
}"""
LOADED = """(v) => v.readyState >= 1 || new Promise((resolve) =>
  v.addEventListener("loadedmetadata", () => resolve(true), {once: true}))"""
CLIP_TIMES = """() => [...window.benchClips.values()]
  .filter((seen) => seen.text && seen.loaded).map((seen) => (seen.loaded - seen.text) / 1000)"""


async def run(workdir: Path) -> Result:
    result = Result("live")
    async with FakeGroq() as groq, FakeDID() as did, FakeDidStreams() as streams:
        groq.reply, groq.chunk_delay = REPLY, CHUNK_DELAY
        streams.speak_delay = SPEAK_DELAY
        did.render_seconds = CLIP_RENDER_SECONDS
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            try:
                page = await (await browser.new_context()).new_page()
                async with _serving(workdir / "live", groq, did, streams, "auto") as url:
                    live = await _live(page, url, streams)
                page = await (await browser.new_context()).new_page()
                async with _serving(workdir / "clip", groq, did, streams, "clip") as url:
                    clips = await _clips(page, url)
            finally:
                await browser.close()
    p50 = percentile(live, 50)
    result.add(f"first text → first avatar frame, live, p50 of {ANSWERS}", p50, "s",
               f"≤ {TARGET:g} s", p50 <= TARGET)  # fmt: skip
    result.add("first text → first avatar frame, live, max", max(live), "s")
    result.add(f"first text → clip loaded, p50 of {CLIPS}", percentile(clips, 50), "s")
    result.fakes = {
        "did_stream_speak_delay_s": SPEAK_DELAY,
        "did_clip_render_s": CLIP_RENDER_SECONDS,
        "llm": f"one word every {CHUNK_DELAY * 1000:g} ms, {len(REPLY.split())} words",
        "browser": "headless Chromium (Debian), WebRTC over loopback, no STUN/TURN",
    }
    result.numbers = {"live_s": [round(v, 3) for v in live], "clip_s": [round(v, 3) for v in clips]}
    return result


@asynccontextmanager
async def _serving(
    workdir: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, mode: str
) -> AsyncIterator[str]:
    settings = settings_for(
        workdir,
        groq,
        did,
        WEB_ENABLED=True,
        WEB_AVATAR_MODE=mode,
        DID_AGENT_ID=AGENT_ID,
        DID_STREAMS_BASE_URL=streams.base_url,
        WEB_IP_MESSAGES_PER_MINUTE=None,
        DID_POLL_FIRST_SECONDS=1.0,
        DID_POLL_INTERVAL_SECONDS=0.5,
        DID_RENDER_TIMEOUT_SECONDS=120,
    )
    async with open_core(settings) as core:
        adapter = WebAdapter(
            core.conversations,
            core.runner,
            commands=core.commands,
            inbox=core.inbox,
            host="127.0.0.1",
            port=0,
            secret="bench-secret-0123456789abcdef0123456789",
            media_dir=settings.media_dir,
            max_text_chars=settings.MAX_MESSAGE_CHARS,
            history=core.storage.history,
            live=web_live(core),
        )
        await core.start_jobs({"web": adapter.delivery})
        await adapter.start()
        try:
            yield f"http://127.0.0.1:{adapter.port}/"
        finally:
            await core.runner.drain(0)
            await adapter.stop()


async def _ask(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def _live(page: Page, url: str, streams: FakeDidStreams) -> list[float]:
    await page.goto(url)
    await page.wait_for_selector("#live[data-state=live]", timeout=15_000)
    video = page.locator("#live-video")
    idle: list[Any] = list(IDLE)
    times = []
    for n in range(ANSWERS):
        await streams.wait_for(
            lambda: all(s.video.speaking is None for s in streams.open_streams), 60
        )
        await video.evaluate(IDLE_FRAME, idle)
        await video.evaluate(TIME_LIVE, idle)  # watching before the question goes out
        await _ask(page, f"Question {n + 1}?")
        times.append(float(await page.evaluate("() => window.benchTiming")))
    return times


async def _clips(page: Page, url: str) -> list[float]:
    await page.goto(url)
    await page.wait_for_selector("#connection.online")
    await page.evaluate(WATCH_CLIPS)
    answers = page.locator(".msg.bot")
    for n in range(CLIPS):
        await _ask(page, f"Question {n + 1}?")
        await expect(answers.nth(n).locator(".text")).to_have_text(REPLY, timeout=30_000)
    for n in range(CLIPS):
        video = answers.nth(n).locator("video")
        await expect(video).to_have_count(1, timeout=120_000)
        await video.evaluate(LOADED)
    times: list[float] = await page.evaluate(CLIP_TIMES)
    return times
