"""The web chat page's finish in headless Chromium: what a user sees, types, hears and clicks.

The server, the fakes and the browser come from tests/test_web_browser.py. Every test fails on
a console error or an uncaught exception in the page. To refresh the README's screenshot, run
`AVATARBOT_SCREENSHOT=docs/web-chat.png .venv/bin/pytest tests/test_web_page.py -k readme`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urljoin

import pytest
from playwright.async_api import ConsoleMessage, Page, WebSocketRoute, expect

from tests import test_web_browser as browser
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.test_web_browser import ANSWER, metadata_loaded, open_chat, serving

pytestmark = browser.pytestmark
page = browser.page  # a phone-sized page with a fake microphone
chat_url = browser.chat_url
GROQ_REPLY = ANSWER

SOCKET = re.compile(r"/ws(\?|$)")
NO_VIDEO_HINT = "Videos need a D-ID key on the server"
WELCOME = "Type a message or hold the microphone to talk. I answer in text at once"
COLUMN_PX = 760
STREAMING = re.compile(r"\bstreaming\b")
PENDING = re.compile(r"\bpending\b")


def watch(page: Page) -> list[str]:
    """The page's console errors and uncaught exceptions, collected as they happen."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    return errors


@pytest.fixture
async def tab(page: Page, chat_url: str) -> AsyncIterator[Page]:
    """The chat, open and online; no JS errors allowed (checked before the server stops)."""
    errors = watch(page)
    await open_chat(page, chat_url)
    yield page
    assert not errors


class Cable:
    """The page's WebSockets, routed to the server; `cut` drops them and refuses new ones."""

    def __init__(self) -> None:
        self.up = True
        self.sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    async def route(self, ws: WebSocketRoute) -> None:
        if not self.up:
            await ws.close(code=1001, reason="offline")
            return
        self.sockets.append((ws, ws.connect_to_server()))

    async def cut(self) -> None:
        self.up = False
        for page_side, server_side in self.sockets:
            await server_side.close(code=1001, reason="offline")
            await page_side.close(code=1001, reason="offline")
        self.sockets.clear()


@pytest.fixture
async def unplugged(page: Page, chat_url: str) -> AsyncIterator[tuple[Page, Cable]]:
    """The chat online through a cable the test can cut; no JS errors allowed."""
    cable = Cable()
    await page.route_web_socket(SOCKET, cable.route)
    errors = watch(page)
    await open_chat(page, chat_url)
    yield page, cable
    assert not errors


async def ask(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def answered(page: Page, count: int) -> None:
    """Wait for the `count`-th answer to be complete."""
    answers = page.locator(".msg.bot")
    await expect(answers).to_have_count(count)
    await expect(answers.last.locator(".text")).to_have_text(ANSWER)
    await expect(answers.last).not_to_have_class(STREAMING)


def questions(groq: FakeGroq) -> list[list[str]]:
    """For each chat completion Groq was asked for, the user messages it was sent."""
    bodies = [call.json or {} for call in groq.calls("/chat/completions")]
    return [[m["content"] for m in body["messages"] if m["role"] == "user"] for body in bodies]


# -- 1 and 8: the connection ---------------------------------------------------------------------


async def test_a_message_typed_offline_waits_as_pending_then_goes_out_once_reconnected(
    unplugged: tuple[Page, Cable], groq: FakeGroq
) -> None:
    page, cable = unplugged
    await cable.cut()
    await expect(page.locator("#connection")).to_have_text("Reconnecting…")
    await ask(page, "Are you still there?")
    mine = page.locator(".msg.user")
    await expect(mine).to_have_class(PENDING)
    await expect(mine.locator(".note")).to_have_text(re.compile(r"^Not sent yet .*reconnects\."))
    await expect(page.locator("#text")).to_have_value("")
    await page.reload()  # still offline: the message waits in local storage
    await expect(mine.locator(".text")).to_have_text("Are you still there?")
    await expect(mine).to_have_class(PENDING)
    cable.up = True
    await page.get_by_role("button", name="Try now").click()
    await answered(page, 1)
    await expect(mine).not_to_have_class(PENDING)
    await expect(mine.locator(".note")).to_have_count(0)
    assert questions(groq) == [["Are you still there?"]]  # once


async def test_a_reset_while_offline_goes_out_before_the_messages_waiting(
    unplugged: tuple[Page, Cable], groq: FakeGroq
) -> None:
    page, cable = unplugged
    await ask(page, "Who are you?")
    await answered(page, 1)
    await cable.cut()
    await ask(page, "And now?")
    await reset(page)
    await expect(page.locator(".msg")).to_have_count(1)  # the waiting message stays
    cable.up = True
    await page.get_by_role("button", name="Try now").click()
    await answered(page, 1)
    assert questions(groq)[-1] == ["And now?"]  # asked after the reset


async def test_a_reset_carried_over_a_reload_clears_what_the_server_shows_again(
    unplugged: tuple[Page, Cable], groq: FakeGroq
) -> None:
    page, cable = unplugged
    await ask(page, "Who are you?")
    await answered(page, 1)
    await cable.cut()
    await reset(page)  # it waits in the outbox: the server has not heard it
    await page.reload()
    cable.up = True
    await page.get_by_role("button", name="Try now").click()
    await expect(page.locator("#connection")).to_have_text("Online")
    await expect(page.locator(".msg")).to_have_count(0)  # the history it drew, then cleared
    await page.reload()  # and the server forgot it
    await expect(page.locator("#connection")).to_have_text("Online")
    await expect(page.locator(".msg")).to_have_count(0)
    await ask(page, "Fresh start?")
    await answered(page, 1)
    assert questions(groq)[-1] == ["Fresh start?"]


async def test_connection_notices_go_once_the_page_is_back_online(
    unplugged: tuple[Page, Cable],
) -> None:
    page, cable = unplugged
    await cable.cut()
    offline = page.locator(".notice.connection")
    await expect(offline).to_have_text(re.compile(r"^Not connected — trying again… "))
    await expect(page.locator("#connection")).to_have_text("Reconnecting…")
    cable.up = True  # the page's own retry (after its backoff) reconnects
    await expect(page.locator("#connection")).to_have_text("Online", timeout=10_000)
    await expect(offline).to_have_count(0)
    await ask(page, "Back?")
    await answered(page, 1)
    await expect(page.locator(".notice")).to_have_count(0)


# -- 2: following the conversation --------------------------------------------------------------


async def test_the_page_follows_each_message_until_the_reader_scrolls_up(
    tab: Page, groq: FakeGroq, did: FakeDID
) -> None:
    page = tab
    did.hold_renders = True  # no videos: only the text moves the page
    lines = "\n".join(f"line {n} of a long question" for n in range(12))
    for n in range(2):
        await ask(page, f"Question {n}\n{lines}")
        await expect(page.locator(".msg.user").last).to_be_in_viewport()  # its own message
        await answered(page, n + 1)
        await expect(page.locator(".msg.bot").last).to_be_in_viewport(ratio=1)  # the answer

    gate = groq.hold(after_chunks=3)
    await ask(page, "One more")
    answer = page.locator(".msg.bot").last
    await expect(answer.locator(".text")).to_have_text("Hi! I'm Ava, ")
    box = await page.locator("#messages").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.wheel(0, -5000)  # the reader goes back to the first question
    await expect(page.locator(".msg.user").first).to_be_in_viewport()
    gate.set()
    await expect(answer.locator(".text")).to_have_text(ANSWER)
    jump = page.get_by_role("button", name="New messages ↓")
    await expect(jump).to_be_visible()
    await expect(answer).not_to_be_in_viewport()  # the page stayed where the reader is
    await jump.click()
    await expect(answer).to_be_in_viewport()
    await expect(jump).to_be_hidden()


# -- 3: recording -----------------------------------------------------------------------------


async def test_recording_shows_its_time_can_be_cancelled_and_says_what_it_does(
    tab: Page, groq: FakeGroq
) -> None:
    page = tab
    record, bar = page.locator("#record"), page.locator("#recording")
    said = page.locator("#announcer")
    await expect(said).to_have_attribute("aria-live", "polite")
    await expect(bar).to_be_hidden()

    await record.click()
    await expect(bar).to_be_visible()
    await expect(page.locator("#text")).to_be_hidden()
    await expect(record).to_have_attribute("aria-pressed", "true")
    await expect(record).to_have_accessible_name("Stop and send the voice message")
    await expect(said).to_have_text("Recording. Press Escape to cancel.")
    await expect(page.locator("#elapsed")).to_have_text("0:01", timeout=5_000)  # the clock runs
    await page.keyboard.press("Escape")
    await expect(said).to_have_text("Recording cancelled.")
    await expect(bar).to_be_hidden()
    await expect(record).to_have_attribute("aria-pressed", "false")
    await expect(page.locator("#text")).to_be_visible()

    await record.click()
    await expect(said).to_have_text("Recording. Press Escape to cancel.")
    await expect(page.locator("#elapsed")).to_have_text("0:00")  # a new recording's clock
    await bar.get_by_role("button", name="Cancel the recording").click()
    await expect(said).to_have_text("Recording cancelled.")

    await record.click()
    await expect(record).to_have_attribute("data-recorded", re.compile(r"^[1-9]\d*$"))
    await page.click("#send")  # Send sends the recording too
    await expect(said).to_have_text("Sending the voice message.")
    await expect(page.locator(".msg.user.voice")).to_have_text("hello there")
    await answered(page, 1)
    # Frames are answered in order: the cancelled recordings would have come first.
    assert len(groq.calls("/audio/transcriptions")) == 1
    await expect(page.locator(".msg")).to_have_count(2)


# -- 4: reset -----------------------------------------------------------------------------------


async def reset(page: Page) -> None:
    """Reset, and confirm it in the dialog."""
    await page.click("#reset")
    await (
        page.get_by_role("dialog", name="Clear this conversation?")
        .get_by_role("button", name="Clear")
        .click()
    )


async def test_reset_asks_first_and_cancel_keeps_the_conversation(
    tab: Page, groq: FakeGroq
) -> None:
    page = tab
    messages, dialog = page.locator(".msg"), page.get_by_role("dialog")
    await ask(page, "Who are you?")
    await answered(page, 1)

    await page.click("#reset")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_have_accessible_name("Clear this conversation?")
    await expect(dialog).to_have_accessible_description(re.compile(r"cannot be undone"))
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#reset")).to_be_focused()
    await expect(messages).to_have_count(2)

    await page.keyboard.press("Enter")  # Reset has focus: the dialog again, Cancel this time
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(messages).to_have_count(2)
    await ask(page, "Still there?")
    await answered(page, 2)
    assert questions(groq)[-1] == ["Who are you?", "Still there?"]  # nothing was forgotten


async def test_a_confirmed_reset_clears_the_conversation_and_the_server_forgets(
    tab: Page, groq: FakeGroq
) -> None:
    page = tab
    messages = page.locator(".msg")
    await ask(page, "Who are you?")
    await answered(page, 1)

    await reset(page)
    await expect(page.get_by_role("dialog")).to_be_hidden()
    await expect(messages).to_have_count(0)
    await expect(page.locator(".empty")).to_be_visible()
    await expect(page.locator("#announcer")).to_have_text("Conversation cleared.")
    await expect(page.locator("#text")).to_be_focused()
    await ask(page, "Fresh start?")
    await answered(page, 1)
    assert questions(groq)[-1] == ["Fresh start?"]

    await reset(page)
    await page.reload()  # the server forgot: nothing of before the reset comes back
    await expect(page.locator("#connection")).to_have_text("Online")
    await expect(messages).to_have_count(0)
    await ask(page, "Hello?")
    await answered(page, 1)
    assert questions(groq)[-1] == ["Hello?"]


# -- 5 and 7: on load ---------------------------------------------------------------------------


async def test_the_message_box_has_focus_and_the_welcome_promises_the_video(tab: Page) -> None:
    page = tab
    await expect(page.locator("#text")).to_be_focused()
    await expect(page.locator(".empty")).to_have_text(
        f"{WELCOME}, then with a short video of me saying it."
    )
    await page.locator("#avatar").uncheck()
    await expect(page.locator(".empty")).to_have_text(
        f"{WELCOME}; switch on Video to also get a short video of me saying it."
    )
    await page.reload()
    await expect(page.locator("#text")).to_be_focused()


async def test_without_did_the_video_switch_says_why_and_no_video_is_promised(
    page: Page, tmp_path: Path, groq: FakeGroq
) -> None:
    errors = watch(page)
    no_did = cast(FakeDID, None)  # serving() hands it to settings_for: no D-ID key
    async with serving(tmp_path, groq, no_did) as url:
        await open_chat(page, url)
        await expect(page.locator(".empty")).to_have_text(f"{WELCOME}.")
        switch, hint = page.locator("#avatar"), page.locator("#avatar-hint")
        await expect(switch).to_be_disabled()
        await expect(switch).not_to_be_checked()
        await expect(switch).to_have_accessible_description(NO_VIDEO_HINT)
        await expect(page.locator("#avatar-label")).to_have_attribute("title", NO_VIDEO_HINT)
        await expect(hint).to_be_hidden()
        await page.locator("#avatar-label").click(force=True)  # a tap, where no tooltip shows
        await expect(hint).to_be_visible()
        await expect(hint).to_have_text(NO_VIDEO_HINT)
        await expect(switch).not_to_be_checked()
        await page.locator("#text").focus()
        await expect(hint).to_be_hidden()
        await ask(page, "Hi")
        await answered(page, 1)
        await expect(page.locator(".msg.bot .note")).to_have_count(0)
        assert not errors


# -- 6: the layout ------------------------------------------------------------------------------


async def column(page: Page) -> tuple[float, float]:
    """The left edge of the answer and the right edge of the question."""
    question = await page.locator(".msg.user").bounding_box()
    answer = await page.locator(".msg.bot").bounding_box()
    assert question is not None and answer is not None
    return answer["x"], question["x"] + question["width"]


async def test_on_a_desktop_the_conversation_is_a_centred_column(tab: Page) -> None:
    page = tab
    await ask(page, "Who are you?")
    await answered(page, 1)
    left, right = await column(page)
    assert left == pytest.approx(12.8, abs=1) and right == pytest.approx(420 - 12.8, abs=1)
    await page.set_viewport_size({"width": 1440, "height": 900})
    left, right = await column(page)
    assert right - left == pytest.approx(COLUMN_PX, abs=1)
    assert (left + right) / 2 == pytest.approx(720, abs=1)
    box = await page.locator("#text").bounding_box()
    assert box is not None and left <= box["x"] and box["x"] + box["width"] <= right


# -- 9: the favicon -----------------------------------------------------------------------------


async def test_the_page_has_a_favicon_the_server_serves(tab: Page) -> None:
    page = tab
    href = await page.locator("link[rel=icon]").get_attribute("href")
    assert href is not None
    response = await page.request.get(urljoin(page.url, href))
    assert response.ok and response.headers["content-type"] == "image/svg+xml"
    width = await page.evaluate(
        "href => new Promise(resolve => { const image = new Image();"
        " image.onload = () => resolve(image.naturalWidth); image.onerror = () => resolve(0);"
        " image.src = href; })",
        href,
    )
    assert width > 0


# -- 10: the README's screenshot ----------------------------------------------------------------

# Where the drawn face is in the 240x240 test clip at 1 s (scripts/make-test-avatar).
FACE_PIXELS = {"chin": (120, 162, (246, 204, 170)), "open mouth": (100, 133, (92, 28, 40))}


async def test_the_readme_screenshot_shows_a_question_its_answer_and_the_talking_face(
    tab: Page, tmp_path: Path
) -> None:
    page = tab
    await ask(page, "Who are you?")
    await answered(page, 1)
    video = page.locator(".msg.bot video")
    await expect(video).to_have_count(1)
    await metadata_loaded(video)
    shown = await video.evaluate(
        "v => { v.pause(); v.currentTime = 1;"
        " return new Promise(resolve => v.addEventListener('seeked', () => resolve(v.currentTime),"
        " {once: true})); }"
    )
    assert shown == pytest.approx(1, abs=0.1)
    pixels: list[Any] = await video.evaluate(
        "(v, points) => { const canvas = document.createElement('canvas');"
        " canvas.width = v.videoWidth; canvas.height = v.videoHeight;"
        " const context = canvas.getContext('2d'); context.drawImage(v, 0, 0);"
        " return points.map(([x, y]) => Array.from(context.getImageData(x, y, 1, 1).data"
        ".slice(0, 3))); }",
        [[x, y] for x, y, _ in FACE_PIXELS.values()],
    )
    for (name, (_, _, expected)), actual in zip(FACE_PIXELS.items(), pixels, strict=True):
        assert all(abs(a - e) < 24 for a, e in zip(actual, expected, strict=True)), (name, actual)
    await expect(page.locator(".msg.bot")).to_be_in_viewport(ratio=1)
    await page.screenshot(path=tmp_path / "web-chat.png")
    if target := os.environ.get("AVATARBOT_SCREENSHOT"):
        await page.screenshot(path=target)
