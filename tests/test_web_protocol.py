"""The web chat's /ws protocol end to end: the wired core, the web adapter, fake Groq and D-ID."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.web import audio_frames, frames, messages, text_frames
from adapters.web.access import AccessSettings
from adapters.web.app import WebAdapter
from adapters.web.chat import MAX_PENDING
from adapters.web.delivery import WebDelivery
from bot.run import configured_adapters
from bot.wiring import Core, open_core
from core.types import AvatarFailed, VideoReady
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for

VOICE = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()
ANSWER = "Hello from Ava. Nice to see you."
ALICE, BOB = "alice-0123456789", "bob-0123456789ab"  # conversation bases: the ids are signed
MAX_CHARS = 50
SECRET = "test-web-secret-0123456789abcdef0123456789"
TOKEN = "s3cret-token-0123456789"
Message = dict[str, Any]

GROQ_REPLY = ANSWER  # what the fake model answers (tests/conftest.py)


class WatchedDelivery:
    """The adapter's delivery, plus a way to wait until jobs have been delivered or failed."""

    def __init__(self, inner: WebDelivery) -> None:
        self.inner = inner
        self.finished: list[int] = []
        self._changed = asyncio.Event()

    async def deliver_video(self, ready: VideoReady) -> None:
        await self.inner.deliver_video(ready)
        self._done(ready.job.id)

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        await self.inner.deliver_failure(failed)
        self._done(failed.job.id)

    def _done(self, job: int) -> None:
        self.finished.append(job)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(self.finished) < count:
                self._changed.clear()
                await self._changed.wait()


class Tab:
    """One WebSocket client, reading messages with a deadline."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, frame: Message) -> None:
        await self.ws.send_json(frame)

    async def receive(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        message = await self.ws.receive(timeout=timeout)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        data: Message = json.loads(message.data)
        return data

    async def until(self, done: Callable[[Message], bool]) -> list[Message]:
        """The messages up to and including the first one for which `done` holds."""
        got: list[Message] = []
        while not got or not done(got[-1]):
            got.append(await self.receive())
        return got

    async def answer(self, turn: str) -> list[Message]:
        """The messages up to the end of `turn`'s answer (its final text or error)."""
        return await self.until(lambda m: m["turn"] == turn and m["type"] in ("final", "error"))

    async def ask(self, text: str, turn: str) -> list[Message]:
        await self.send({"type": "text", "turn": turn, "text": text})
        return await self.answer(turn)


class Browser:
    """Opens tabs (sockets) on the adapter and closes them all at the end.

    `alice` and `bob` are the signed ids of two conversations.
    """

    def __init__(self, session: aiohttp.ClientSession, adapter: WebAdapter) -> None:
        self.session, self.adapter = session, adapter
        self.root = f"http://127.0.0.1:{adapter.port}"
        self.alice, self.bob = adapter.ids.sign(ALICE), adapter.ids.sign(BOB)
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def raw(self, query: dict[str, str], headers: dict[str, str] | None = None) -> Tab:
        ws = await self.session.ws_connect(f"{self.root}/ws", params=query, headers=headers)
        self._sockets.append(ws)
        return Tab(ws)

    async def open(self, conversation: str | None = None, **query: str) -> tuple[Tab, Message]:
        tab = await self.raw({"conversation": conversation or self.alice, **query})
        ready = await tab.receive()
        assert ready["type"] == "status" and ready["state"] == "ready", ready
        return tab, ready

    async def aclose(self) -> None:
        for ws in self._sockets:
            await ws.close()


@pytest.fixture
async def core(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> AsyncIterator[Core]:
    settings = settings_for(tmp_path, groq, did, WEB_ENABLED=True, MAX_MESSAGE_CHARS=MAX_CHARS)
    async with open_core(settings) as core:
        yield core


@asynccontextmanager
async def web_chat(core: Core, token: str | None = None) -> AsyncIterator[WebAdapter]:
    """The adapter on a free port, registered with the core as `avatarbot run` does."""
    adapter = WebAdapter(
        core.conversations,
        core.runner,
        commands=core.commands,
        inbox=core.inbox,
        host="127.0.0.1",
        port=0,
        secret=SECRET,
        access=AccessSettings(token=token),
        media_dir=core.settings.media_dir,
        max_text_chars=core.settings.MAX_MESSAGE_CHARS,
        history=core.storage.history,
    )
    await core.start_jobs({"web": WatchedDelivery(adapter.delivery)})
    await adapter.start()
    try:
        yield adapter
    finally:
        await stop(adapter)


async def stop(adapter: WebAdapter) -> None:
    """Stop as `avatarbot run` does: the runner drains, then the adapter stops."""
    await adapter.runner.drain(0)
    await adapter.stop()


@pytest.fixture
async def web(core: Core) -> AsyncIterator[WebAdapter]:
    async with web_chat(core) as adapter:
        yield adapter


@pytest.fixture
async def browser(web: WebAdapter) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession() as session:
        browser = Browser(session, web)
        yield browser
        await browser.aclose()


def watched(core: Core) -> WatchedDelivery:
    delivery = core.deliveries["web"]
    assert isinstance(delivery, WatchedDelivery)
    return delivery


def of_type(messages: list[Message], kind: str) -> list[Message]:
    return [m for m in messages if m["type"] == kind]


async def test_page_static_files_and_health(browser: Browser) -> None:
    async with browser.session.get(f"{browser.root}/healthz") as response:
        assert response.status == 200 and await response.json() == {"ok": True}
    async with browser.session.get(f"{browser.root}/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert 'src="static/app.js"' in await response.text()
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
    for name, kind in [("app.js", "javascript"), ("app.css", "text/css")]:
        async with browser.session.get(f"{browser.root}/static/{name}") as response:
            assert response.status == 200 and kind in response.content_type


async def test_text_streams_then_video_serves_with_ranges(
    browser: Browser, groq: FakeGroq, did: FakeDID
) -> None:
    tab, ready = await browser.open()
    assert ready == messages.ready(browser.alice, avatar=True, avatar_available=True)
    answer = await tab.ask("Who are you?", "t1")
    deltas = of_type(answer, "delta")
    assert len(deltas) > 2 and "".join(d["text"] for d in deltas) == ANSWER
    assert answer[-1] == {"type": "final", "turn": "t1", "text": ANSWER}
    assert groq.chat_bodies[0]["messages"][-1] == {"role": "user", "content": "Who are you?"}
    rendering = await tab.receive()
    assert rendering == {"type": "status", "turn": "t1", "state": "rendering", "job": 1}
    video = await tab.receive()
    assert video == {"type": "video", "turn": "t1", "job": 1, "url": video["url"]}
    assert video["url"].startswith("media/1.mp4?sig=")  # signed for this video alone
    async with browser.session.get(f"{browser.root}/{video['url']}") as response:
        assert response.status == 200 and response.content_type == "video/mp4"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert await response.read() == did.video
    ranged = {"Range": "bytes=100-199"}
    async with browser.session.get(f"{browser.root}/{video['url']}", headers=ranged) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 100-199/{len(did.video)}"
        assert await response.read() == did.video[100:200]


async def test_audio_as_base64_and_as_binary_frame(browser: Browser, groq: FakeGroq) -> None:
    tab, _ = await browser.open()
    data = base64.b64encode(VOICE).decode()
    await tab.send({"type": "audio", "turn": "v1", "mime": "audio/ogg", "data": data})
    answer = await tab.answer("v1")
    assert answer[0] == {"type": "transcript", "turn": "v1", "text": "hello there"}
    assert answer[-1]["type"] == "final"
    upload = groq.calls("/audio/transcriptions")[0].file
    assert upload is not None and upload.size == len(VOICE) and upload.head == VOICE[:16]
    await tab.ws.send_bytes(VOICE)
    first = await tab.until(lambda m: m["type"] == "transcript")
    turn = first[-1]["turn"]  # a binary frame carries no turn id: the server picked one
    assert turn and turn not in ("v1", "")
    assert (await tab.answer(turn))[-1] == {"type": "final", "turn": turn, "text": ANSWER}
    assert [b["messages"][-1]["content"] for b in groq.chat_bodies] == ["hello there"] * 2


async def test_reset_forgets_the_conversation(browser: Browser, groq: FakeGroq) -> None:
    tab, _ = await browser.open()
    await tab.ask("first question", "t1")
    await tab.send({"type": "reset", "turn": "r1"})
    reset = await tab.until(lambda m: m["turn"] == "r1")
    assert reset[-1] == {"type": "status", "turn": "r1", "state": "reset"}
    await tab.ask("second question", "t2")
    roles = [m["role"] for m in groq.chat_bodies[-1]["messages"]]
    assert roles == ["system", "user"]


async def test_commands_are_answered_in_their_place_and_persona_reaches_the_model(
    browser: Browser, core: Core, groq: FakeGroq
) -> None:
    tab, _ = await browser.open()
    await tab.send({"type": "command", "turn": "c1", "text": "/persona a calm sea captain"})
    await tab.send({"type": "text", "turn": "t1", "text": "Hello"})
    await tab.send({"type": "command", "turn": "c2", "text": "/reply loud"})
    await tab.send({"type": "command", "turn": "c3", "text": "/usage"})
    got = await tab.until(lambda m: m["turn"] == "c3")
    replies = {m["turn"]: m["text"] for m in of_type(got, "command")}
    assert replies["c1"] == "Done — from now on my persona here is: a calm sea captain"
    assert replies["c2"].startswith("I can answer with text and a talking-avatar video")
    assert groq.tokens_reported > 0
    today = replies["c3"].splitlines()[0]
    assert today.endswith(f", {groq.tokens_reported:,} LLM tokens.")
    assert [m["turn"] for m in got if m["type"] in ("final", "command")] == ["c1", "t1", "c2", "c3"]
    system = groq.chat_bodies[0]["messages"][0]["content"]
    assert system.startswith(core.settings.SYSTEM_PROMPT) and system.endswith("a calm sea captain")
    await tab.send({"type": "command", "turn": "c4", "text": "/"})
    bad = await tab.until(lambda m: m["turn"] == "c4")
    assert bad[-1]["type"] == "error" and bad[-1]["code"] == "bad_frame"


async def test_a_reset_takes_effect_after_the_turns_sent_before_it(
    browser: Browser, groq: FakeGroq
) -> None:
    gate = groq.hold(after_chunks=1)
    tab, _ = await browser.open()
    await tab.send({"type": "text", "turn": "t1", "text": "first question"})
    await tab.send({"type": "reset", "turn": "r1"})
    await tab.send({"type": "text", "turn": "t2", "text": "second question"})
    await tab.ws.send_str("ping")  # read after the three: they are taken
    got = await tab.until(lambda m: m.get("code") == "bad_frame")
    got += await tab.until(lambda m: m["type"] == "delta")  # t1 is being answered
    assert len(groq.chat_bodies) == 1  # t2 waits behind the reset, which waits behind t1
    gate.set()
    got += await tab.answer("t2")
    ends = [
        (m["turn"], m["type"]) for m in got if m["type"] == "final" or m.get("state") == "reset"
    ]
    assert ends == [("t1", "final"), ("r1", "status"), ("t2", "final")]
    assert [m["role"] for m in groq.chat_bodies[1]["messages"]] == ["system", "user"]


async def test_a_resent_voice_message_is_answered_once_and_leaves_no_recording(
    browser: Browser, core: Core, groq: FakeGroq
) -> None:
    recordings = core.settings.media_dir / "inbox"
    gate = groq.hold()
    tab, _ = await browser.open()
    frame = {"type": "audio", "turn": "v1", "mime": "audio/ogg"}
    frame["data"] = base64.b64encode(VOICE).decode()
    await tab.send(frame)
    await tab.until(lambda m: m["type"] == "transcript")
    await tab.send(frame)  # while it is answered (the page resends after a reconnect)
    gate.set()
    await tab.answer("v1")
    await tab.until(lambda m: m.get("state") == "rendering")
    async with asyncio.timeout(5):  # deleted once answered, right after the final text
        while list(recordings.iterdir()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await tab.send(frame)  # once it is answered
    await tab.ws.send_str("ping")
    after = await tab.until(lambda m: m.get("code") == "bad_frame")
    assert [m for m in after if m["turn"] == "v1" and m["type"] != "video"] == []
    assert not list(recordings.iterdir())
    assert len(groq.calls("/audio/transcriptions")) == len(groq.chat_bodies) == 1


async def test_a_turn_that_cannot_be_recorded_gets_one_line_and_frees_its_audio(
    browser: Browser, web: WebAdapter, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def full(*_: object) -> set[str]:
        raise OSError("disk full")

    tab, _ = await browser.open()
    with monkeypatch.context() as patch:
        patch.setattr(core.inbox, "record_many", full)
        frame = {"type": "audio", "turn": "v1", "mime": "audio/ogg"}
        frame["data"] = base64.b64encode(VOICE * 4).decode()  # a large frame: audio held
        await tab.send(frame)
        error = await tab.receive()
    assert (error["type"], error["turn"], error["code"]) == ("error", "v1", "failed")
    assert web.chat.limiter.in_flight == 0 and web.chat.running == 0
    assert (await tab.ask("still there?", "t1"))[-1]["type"] == "final"


async def test_avatar_off_means_no_video_and_is_remembered(browser: Browser, did: FakeDID) -> None:
    tab, _ = await browser.open()
    await tab.send({"type": "avatar", "turn": "a1", "on": False})
    assert await tab.receive() == {"type": "status", "turn": "a1", "state": "avatar", "on": False}
    first = await tab.ask("one", "t1")
    # The turns of a conversation run in order: t2 starts once t1 asked for its avatar.
    second = await tab.ask("two", "t2")
    assert not [m for m in first + second if m["type"] in ("status", "video")]
    assert not did.talks
    _, ready = await browser.open()
    assert ready["avatar"] is False and ready["avatar_available"] is True


BAD_FRAMES: list[tuple[str, str, str]] = [
    ("not json", "bad_frame", ""),
    ("[1, 2]", "bad_frame", ""),
    ('{"turn": "x1", "text": "hi"}', "bad_frame", "x1"),
    ('{"type": "dance", "turn": "x2"}', "bad_frame", "x2"),
    ('{"type": "text", "turn": "x3"}', "bad_frame", "x3"),
    ('{"type": "text", "turn": "x4", "text": 42}', "bad_frame", "x4"),
    (json.dumps({"type": "text", "turn": "x5", "text": "x" * (MAX_CHARS + 1)}), "too_long", "x5"),
    ('{"type": "audio", "turn": "x6", "mime": "audio/ogg"}', "bad_frame", "x6"),
    ('{"type": "audio", "turn": "x7", "data": "not base64!"}', "bad_frame", "x7"),
    ('{"type": "audio", "turn": "x8", "data": "AAAA", "mime": 5}', "bad_frame", "x8"),
    ('{"type": "avatar", "turn": "x9", "on": "yes"}', "bad_frame", "x9"),
    ('{"type": "text", "turn": "no spaces!", "text": "hi"}', "bad_frame", ""),
]


async def test_bad_frames_get_an_error_and_the_socket_stays_open(
    browser: Browser, groq: FakeGroq
) -> None:
    tab, _ = await browser.open()
    for raw, code, turn in BAD_FRAMES:
        await tab.ws.send_str(raw)
        error = await tab.receive()
        assert (error["type"], error["code"], error["turn"]) == ("error", code, turn), raw
        assert error["message"] and len(error["message"]) < 120
    too_big = "A" * (audio_frames.MAX_AUDIO_BASE64 + 8)
    await tab.send({"type": "audio", "turn": "big", "mime": "audio/ogg", "data": too_big})
    assert (await tab.receive())["code"] == "too_large"
    await tab.ws.send_bytes(bytes(audio_frames.MAX_AUDIO_BYTES + 1))
    assert (await tab.receive())["code"] == "too_large"
    await tab.ws.send_bytes(b"")
    assert (await tab.receive())["code"] == "bad_frame"
    answer = await tab.ask("still there?", "ok")
    assert answer[-1]["type"] == "final"
    assert len(groq.chat_bodies) == 1  # no bad frame reached the model


async def test_failures_reach_the_turn(browser: Browser, groq: FakeGroq) -> None:
    tab, _ = await browser.open()
    groq.fail_next("audio/transcriptions", 400, body={"error": {"message": "could not process"}})
    data = base64.b64encode(b"OggS" + bytes(64)).decode()
    await tab.send({"type": "audio", "turn": "v1", "mime": "audio/ogg", "data": data})
    (error,) = await tab.answer("v1")
    assert error["type"] == "error" and error["code"] == "failed"
    assert "voice recording" in error["message"]


async def test_unsigned_forged_or_missing_ids_get_a_fresh_signed_one(browser: Browser) -> None:
    forged = ALICE + "." + "A" * 32
    issued = []
    for query in (
        {},
        {"conversation": "short"},
        {"conversation": "../../etc/passwd"},
        {"conversation": forged},
        {"conversation": "made-up-by-the-page"},
    ):
        tab = await browser.raw(query)
        ready = await tab.receive()
        assert ready["state"] == "ready"
        issued.append(ready["conversation"])
    assert len(set(issued)) == len(issued)  # each a new conversation: none minted from input
    for signed in issued:
        assert browser.adapter.ids.verify(signed) is not None
        assert not signed.startswith(("short", "..", ALICE, "made-up"))
    tab, ready = await browser.open(issued[0])  # a signed id is kept
    assert ready["conversation"] == issued[0]


async def test_an_old_unsigned_id_with_a_history_is_carried_over(
    browser: Browser, groq: FakeGroq
) -> None:
    old = "0123456789abcdef0123456789abcdef"  # as pages made them before ids were signed
    tab, ready = await browser.raw({"conversation": old}), None
    ready = await tab.receive()
    assert ready["conversation"] != browser.adapter.ids.sign(old)  # no history: a new one
    first = ready["conversation"]
    await tab.ask("remember me", "t1")
    base = first.partition(".")[0]  # the page of an older version would have kept this alone
    back = await browser.raw({"conversation": base})
    carried = await back.receive()
    assert carried["conversation"] == first  # bound to the same conversation, now signed
    await back.ask("still me?", "t2")
    contents = [m["content"] for m in groq.chat_bodies[-1]["messages"][1:]]
    assert contents == ["remember me", ANSWER, "still me?"]
    resigned = await browser.raw({"conversation": base + "." + "A" * 32})  # signed, old key
    assert (await resigned.receive())["conversation"] == first


async def test_auth_token_is_exchanged_for_a_session_cookie(core: Core) -> None:
    async with web_chat(core, token=TOKEN) as adapter, aiohttp.ClientSession() as s:
        browser = Browser(s, adapter)
        try:
            for query in ({}, {"token": "wrong"}):
                tab = await browser.raw({"conversation": browser.alice, **query})
                await tab.send({"type": "text", "text": "let me in"})
                error = await tab.receive()
                assert (error["type"], error["code"]) == ("error", "unauthorized")
                closing = await tab.ws.receive(timeout=5)
                assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4401
            await browser.open(token=TOKEN)  # clients without cookies may still send it
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert (await (await browser.raw({}, bearer)).receive())["state"] == "ready"
            raw = {"Cookie": f"avatarbot_token={TOKEN}"}  # the raw token is no session
            assert (await (await browser.raw({}, raw)).receive())["code"] == "unauthorized"
            async with s.get(f"{browser.root}/media/1.mp4?conversation={browser.alice}") as r:
                assert r.status == 401
            async with s.get(f"{browser.root}/?token={TOKEN}") as response:
                assert response.status == 200
                set_cookie = response.headers["Set-Cookie"]
            name, _, rest = set_cookie.partition("=")
            value = rest.partition(";")[0]
            assert name == "avatarbot_session" and TOKEN not in set_cookie
            assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
            assert "Max-Age" in set_cookie and "Secure" not in set_cookie  # plain http here
            session = {"Cookie": f"avatarbot_session={value}"}
            assert (await (await browser.raw({}, session)).receive())["state"] == "ready"
            forged = {"Cookie": f"avatarbot_session={value[:-2]}xx"}
            assert (await (await browser.raw({}, forged)).receive())["code"] == "unauthorized"
            async with s.get(f"{browser.root}/", headers=raw) as response:  # an old cookie
                cookies = response.headers.getall("Set-Cookie")
            assert any(c.startswith("avatarbot_token=") and "Max-Age=0" in c for c in cookies)
            assert any(c.startswith("avatarbot_session=") for c in cookies)  # replaced
        finally:
            await browser.aclose()


async def test_results_finished_while_away_are_replayed_on_reconnect(
    browser: Browser, core: Core, did: FakeDID
) -> None:
    did.hold_renders = True
    did.next_outcome("done")
    did.next_outcome("error", kind="FaceError", description="no face found")
    tab, _ = await browser.open()
    for turn in ("t1", "t2"):
        await tab.ask(f"question {turn}", turn)
        assert (await tab.receive())["state"] == "rendering"
    await tab.ws.close()
    await did.wait_for(lambda: len(did.talks) == 2)
    did.release_all()
    await watched(core).wait_for(2)

    back, _ = await browser.open(since="0")
    video, failure = await back.receive(), await back.receive()
    assert video == browser.adapter.delivery.video("t1", 1)
    assert (failure["type"], failure["code"], failure["turn"]) == ("error", "video_failed", "t2")
    assert failure["job"] == 2 and failure["message"]
    async with browser.session.get(f"{browser.root}/{video['url']}") as response:
        assert response.status == 200 and await response.read() == did.video

    later, _ = await browser.open(since="2")  # nothing newer: the next message answers a frame
    await later.ws.send_str("ping")
    assert (await later.receive())["code"] == "bad_frame"


async def test_media_is_served_only_to_its_conversation(browser: Browser) -> None:
    tab, _ = await browser.open()
    await tab.ask("hello", "t1")
    video = (await tab.until(lambda m: m["type"] == "video"))[-1]
    assert video["job"] == 1
    alice, bob = browser.alice, browser.bob
    for path in (
        f"media/1.mp4?conversation={bob}",
        f"media/1.mp4?conversation={ALICE}",  # the base alone is no credential
        "media/1.mp4",
        "media/1.mp4?sig=" + "A" * 32,  # a signature the server did not make
        "media/1.mp4?conversation=..%2F..%2Fmedia",
        f"media/2.mp4?conversation={alice}",
        f"media/..%2Fweb%2F{ALICE}%2F1.mp4?conversation={alice}",
        "static/..%2F..%2F..%2Fbot%2Fsettings.py",
    ):
        async with browser.session.get(f"{browser.root}/{path}") as response:
            assert response.status in (403, 404), path


async def test_every_tab_of_a_conversation_gets_its_events(browser: Browser) -> None:
    first, _ = await browser.open()
    second, _ = await browser.open()
    other, _ = await browser.open(browser.bob)
    await first.send({"type": "text", "turn": "t1", "text": "hi"})
    for tab in (first, second):
        got = await tab.until(lambda m: m["type"] == "video")
        assert of_type(got, "final")[0]["text"] == ANSWER
    await other.ws.send_str("ping")  # Bob's tab saw nothing of Alice's turn
    assert (await other.receive())["code"] == "bad_frame"


async def test_conversations_run_concurrently_and_each_in_order(
    browser: Browser, groq: FakeGroq
) -> None:
    gate = groq.hold(after_chunks=1)
    alice, _ = await browser.open(browser.alice)
    bob, _ = await browser.open(browser.bob)
    await alice.send({"type": "text", "turn": "a1", "text": "alice one"})
    await alice.send({"type": "text", "turn": "a2", "text": "alice two"})
    await bob.send({"type": "text", "turn": "b1", "text": "bob one"})
    await groq.wait_for(lambda: len(groq.chat_bodies) == 2)  # a1 and b1 at once, a2 waits
    await alice.ws.send_str("ping")  # a held turn does not hold up reading the socket
    assert (await alice.until(lambda m: m["type"] == "error"))[-1]["code"] == "bad_frame"
    gate.set()
    await alice.answer("a2")
    await bob.answer("b1")
    questions = [b["messages"][-1]["content"] for b in groq.chat_bodies]
    assert questions[:2] in (["alice one", "bob one"], ["bob one", "alice one"])
    assert [m["content"] for m in groq.chat_bodies[2]["messages"][1:]] == [
        "alice one",
        ANSWER,
        "alice two",
    ]


async def test_too_many_waiting_turns_are_refused(
    browser: Browser, web: WebAdapter, groq: FakeGroq
) -> None:
    gate = groq.hold(after_chunks=1)
    tab, _ = await browser.open()
    for n in range(MAX_PENDING + 1):
        await tab.send({"type": "text", "turn": f"t{n}", "text": "hi"})
    busy = (await tab.until(lambda m: m["type"] == "error"))[-1]
    assert (busy["code"], busy["turn"]) == ("busy", f"t{MAX_PENDING}")
    assert web.chat.running == MAX_PENDING
    gate.set()
    await tab.answer(f"t{MAX_PENDING - 1}")


async def test_stop_closes_sockets_and_cancels_turns(
    browser: Browser, web: WebAdapter, groq: FakeGroq
) -> None:
    groq.hold(after_chunks=1)
    tab, _ = await browser.open()
    await tab.send({"type": "text", "turn": "t1", "text": "hi"})
    await tab.until(lambda m: m["type"] == "delta")
    assert web.chat.running == web.runner.running == 1
    await stop(web)
    assert web.chat.running == web.runner.running == 0
    closing = await tab.ws.receive(timeout=5)
    while closing.type is aiohttp.WSMsgType.TEXT:
        closing = await tab.ws.receive(timeout=5)
    assert (
        closing.type is aiohttp.WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.GOING_AWAY
    )


async def test_avatarbot_run_builds_the_adapter_from_settings(
    tmp_path: Path, groq: FakeGroq
) -> None:
    settings = settings_for(tmp_path, groq, None, WEB_ENABLED=True, WEB_PORT=0)
    (factory,) = configured_adapters(settings)
    async with open_core(settings) as core, aiohttp.ClientSession() as session:
        adapter = factory(core)
        assert isinstance(adapter, WebAdapter) and adapter.platform == "web"
        await adapter.start()
        try:
            async with session.get(f"http://127.0.0.1:{adapter.port}/healthz") as response:
                assert response.status == 200
            async with session.ws_connect(
                f"http://127.0.0.1:{adapter.port}/ws", params={"conversation": ALICE}
            ) as ws:
                ready = await ws.receive_json(timeout=5)
                assert ready["avatar"] is False and ready["avatar_available"] is False
                await ws.send_json({"type": "avatar", "turn": "a1", "on": True})
                assert (await ws.receive_json(timeout=5))["code"] == "unavailable"
        finally:
            await adapter.stop()


def test_frames_parse_without_io() -> None:
    frame = text_frames.parse_text('{"type": "text", "text": "hi"}', max_text_chars=10)
    assert isinstance(frame, frames.TextFrame) and frame.text == "hi" and frame.turn
    audio = text_frames.parse_text(
        json.dumps({"type": "audio", "turn": "v", "mime": "audio/webm", "data": "T2dnUw=="}),
        max_text_chars=10,
    )
    assert audio == frames.AudioFrame("v", b"OggS", "audio/webm")
    assert audio_frames.parse_binary(b"OggS").data == b"OggS"
    assert messages.load_target(messages.dump_target("t-1")) == "t-1"
    assert messages.load_target("not json") == messages.load_target('{"turn": "a b"}') == ""
    assert audio_frames.peek_turn('{"type": "audio", "turn": "v-1", "data": "AAAA') == "v-1"
    assert audio_frames.peek_turn('{"type": "audio"}') == ""
    assert audio_frames.upload_size(b"A" * 400, text=True) == 300
    assert audio_frames.upload_size(b"x" * 7, text=False) == 7
    recording = b"OggS" * (audio_frames.LARGE_FRAME_BYTES // 4)
    big = base64.b64encode(recording)
    for raw in (  # large audio frames are decoded where they lie, whatever the key order
        b'{"type": "audio", "turn": "v", "mime": "audio/ogg", "data": "' + big + b'"}',
        b'{"data":"' + big + b'", "mime": "audio/ogg", "turn": "v", "type": "audio"}',
    ):
        parsed = text_frames.parse_text(raw, max_text_chars=10)
        assert parsed == frames.AudioFrame("v", recording, "audio/ogg")
    hidden = b'{"type": "audio", "turn": "v", "data": "AAAA", "data": "' + big + b'"}'
    assert isinstance(text_frames.parse_text(hidden, max_text_chars=10), frames.AudioFrame)
    for bad in (b'{"type": "text", "text": "' + big + b'"}', b'{"type": "audio", "data": "' + big):
        with pytest.raises(frames.ProtocolError):
            text_frames.parse_text(bad, max_text_chars=10)
    assert frames.job_cursor("12") == 12
    assert frames.job_cursor("-1") is frames.job_cursor("x") is frames.job_cursor(None)
