"""`/face` on the web chat: a `face` frame with a photo, or `reset`, answered in one line.

The wired core and the web adapter (as `avatarbot run` builds it) against fake Groq and D-ID.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from adapters.web.access import AccessSettings
from adapters.web.app import WebAdapter
from adapters.web.platform import conversation_key
from bot.wiring import Core, open_core
from core import messages
from core.avatar.faces import FACE_RESET, FACE_SET, NO_FACE_TO_RESET, REFUSALS, FaceCommand
from tests import test_web_browser as web_browser
from tests import test_web_protocol as protocol_tests
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.images import make_jpeg, make_png
from tests.harness import settings_for
from tests.test_web_browser import open_chat
from tests.test_web_page import watch
from tests.test_web_protocol import ALICE, SECRET, Browser, WatchedDelivery, stop

core = protocol_tests.core  # the wired core on fake Groq and D-ID, with the web enabled
page = web_browser.page  # a phone-sized page in headless Chromium
GROQ_REPLY = protocol_tests.ANSWER


@pytest.fixture
async def browser(core: Core) -> AsyncIterator[Browser]:
    adapter = WebAdapter(
        core.conversations,
        core.runner,
        inbox=core.inbox,
        host="127.0.0.1",
        port=0,
        secret=SECRET,
        access=AccessSettings(),
        media_dir=core.settings.media_dir,
        max_text_chars=core.settings.MAX_MESSAGE_CHARS,
        history=core.storage.history,
        commands=core.commands,
        faces=FaceCommand(core.faces),
    )
    await core.start_jobs({"web": WatchedDelivery(adapter.delivery)})
    await adapter.start()
    try:
        async with aiohttp.ClientSession() as session:
            opened = Browser(session, adapter)
            yield opened
            await opened.aclose()
    finally:
        await stop(adapter)


def face_frame(turn: str, photo: bytes) -> dict[str, str]:
    return {"type": "face", "turn": turn, "data": base64.b64encode(photo).decode()}


async def test_a_photo_becomes_the_face_of_the_conversation_videos(
    browser: Browser, core: Core, did: FakeDID
) -> None:
    tab, _ = await browser.open()
    await tab.send(face_frame("f1", make_jpeg()))
    assert await tab.receive() == {"type": "face", "turn": "f1", "message": FACE_SET, "face": True}
    (image,) = did.images.values()
    messages = await tab.ask("Hello?", "t1")
    assert messages[-1]["type"] == "final"
    await tab.until(lambda m: m["type"] == "video")
    (talk,) = did.talks.values()
    assert talk.request["source_url"] == image.url
    await tab.send({"type": "face", "turn": "f2", "reset": True})
    assert await tab.receive() == {
        "type": "face",
        "turn": "f2",
        "message": FACE_RESET,
        "face": False,
    }
    assert await core.storage.faces.face(conversation_key(ALICE)) is None
    await tab.send({"type": "face", "turn": "f3", "reset": True})
    assert (await tab.receive())["message"] == NO_FACE_TO_RESET


@pytest.mark.parametrize(
    ("photo", "line"),
    [
        (make_png(60, 60), REFUSALS["InvalidImageResolutionError"]),
        (b"GIF89a" + bytes(32), REFUSALS["UnsupportedMimeTypeError"]),
    ],
    ids=["too small", "not a photo"],
)
async def test_a_photo_d_id_cannot_use_gets_one_line_and_no_face(
    browser: Browser, photo: bytes, line: str
) -> None:
    tab, _ = await browser.open()
    await tab.send(face_frame("f1", photo))
    assert await tab.receive() == {"type": "face", "turn": "f1", "message": line, "face": False}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "face", "turn": "x1"}, "bad_frame"),
        ({"type": "face", "turn": "x2", "data": "not base64!"}, "bad_frame"),
        (
            {"type": "face", "turn": "x3", "data": "A" * (14 * 1024 * 1024)},
            "too_large",
        ),
    ],
    ids=["no data", "not base64", "over 10 MB"],
)
async def test_bad_face_frames_get_an_error_and_the_socket_stays_open(
    browser: Browser, frame: dict[str, str], code: str
) -> None:
    tab, _ = await browser.open()
    await tab.ws.send_str(json.dumps(frame))
    error = await tab.receive()
    assert (error["type"], error["code"], error["turn"]) == ("error", code, frame["turn"])
    assert "\n" not in error["message"]
    messages = await tab.ask("still there?", "t1")
    assert messages[-1]["type"] == "final"


@asynccontextmanager
async def page_served(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> AsyncIterator[str]:
    """The web chat page on the wired core, built with /face as `avatarbot run` builds it."""
    settings = settings_for(tmp_path, groq, did, WEB_ENABLED=True)
    async with open_core(settings) as wired:
        adapter = WebAdapter(
            wired.conversations,
            wired.runner,
            inbox=wired.inbox,
            host="127.0.0.1",
            port=0,
            secret=SECRET,
            media_dir=settings.media_dir,
            max_text_chars=settings.MAX_MESSAGE_CHARS,
            history=wired.storage.history,
            commands=wired.commands,
            faces=FaceCommand(wired.faces),
        )
        await wired.start_jobs({"web": adapter.delivery})
        await adapter.start()
        try:
            yield f"http://127.0.0.1:{adapter.port}/"
        finally:
            await wired.runner.drain(0)
            await adapter.stop()


@web_browser.pytestmark
async def test_the_page_face_button_uploads_a_photo_and_offers_the_default_back(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    photo = tmp_path / "me.png"
    photo.write_bytes(make_png(300, 300))
    async with page_served(tmp_path, groq, did) as url:
        errors = watch(page)
        await open_chat(page, url)
        button = page.locator("#face")
        await expect(button).to_be_visible()
        await page.set_input_files("#face-file", str(photo))
        done = page.locator(".notice", has_text=FACE_SET)
        await expect(done).to_be_visible()
        await expect(button).to_have_class(re.compile(r"\bown\b"))
        (image,) = did.images.values()
        assert image.data == photo.read_bytes()
        await done.get_by_role("button", name="Default face").click()
        await expect(page.locator(".notice", has_text=FACE_RESET)).to_be_visible()
        await expect(button).not_to_have_class(re.compile(r"\bown\b"))
        assert not errors


async def test_voice_lists_the_tab_language_and_picks_one(browser: Browser, did: FakeDID) -> None:
    tab = await browser.raw({"conversation": browser.alice}, headers={"Accept-Language": "es-MX"})
    assert (await tab.receive())["state"] == "ready"
    await tab.send({"type": "command", "turn": "v1", "text": "/voice"})
    listing = (await tab.until(lambda m: m["turn"] == "v1"))[-1]
    assert listing["type"] == "command"
    assert listing["text"].splitlines()[:2] == ["Voces para es:", "1. Elvira (es-ES)"]
    await tab.send({"type": "command", "turn": "v2", "text": "/voice 2"})
    picked = (await tab.until(lambda m: m["turn"] == "v2"))[-1]
    assert picked["text"].startswith("Ahora el avatar habla como Alvaro (es-ES)")
    await tab.ask("Hello?", "t1")
    await tab.until(lambda m: m["type"] == "video")
    (talk,) = did.talks.values()
    assert talk.request["script"]["provider"]["voice_id"] == "es-ES-AlvaroNeural"
    await tab.send({"type": "command", "turn": "v3", "text": "/voice Gandalf"})
    unknown = (await tab.until(lambda m: m["turn"] == "v3"))[-1]
    assert unknown["text"].startswith("No hay ninguna voz llamada «Gandalf»")


@web_browser.pytestmark
async def test_voice_typed_on_the_page_lists_the_voices(
    page: Page, tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    async with page_served(tmp_path, groq, did) as url:
        errors = watch(page)
        await open_chat(page, url)
        await page.fill("#text", "/voice")
        await page.press("#text", "Enter")
        await expect(page.get_by_text("Voices for en:")).to_be_visible()
        await expect(page.get_by_text("2. Guy (en-US)")).to_be_visible()
        assert not groq.calls("/chat/completions")  # a command, not a question
        assert not errors


async def test_face_typed_in_the_web_chat_points_to_the_button_and_resets(
    browser: Browser, core: Core
) -> None:
    tab, _ = await browser.open()
    await tab.send({"type": "command", "turn": "c1", "text": "/face"})
    how = (await tab.until(lambda m: m["turn"] == "c1"))[-1]
    assert (how["type"], how["text"]) == ("command", messages.FACE_HOW_WEB)
    await tab.send(face_frame("f1", make_jpeg()))
    assert (await tab.until(lambda m: m["turn"] == "f1"))[-1]["face"] is True
    await tab.send({"type": "command", "turn": "c2", "text": "/face reset"})
    reset = (await tab.until(lambda m: m["turn"] == "c2"))[-1]
    assert reset["text"] == FACE_RESET
    assert await core.storage.faces.face(conversation_key(ALICE)) is None
