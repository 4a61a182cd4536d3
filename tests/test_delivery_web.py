"""WebDelivery driven directly, with real WebSockets on 127.0.0.1: a video or a failure goes to
every open tab of its conversation and to no other, is filed in the mailbox first, and is
replayed to a tab that comes back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.web import messages
from adapters.web.delivery import Socket, WebDelivery
from adapters.web.identity import ConversationIds, MediaLinks
from adapters.web.mailbox import Entry, Mailbox
from core.types import AvatarFailed, AvatarJob, ConversationKey, JobState, ScriptKind, VideoReady

TRUNCATED = "🎬 The video says the start: the rest of the answer is in the text above."
SUMMED_UP = "🎬 The video sums up the answer: the whole of it is in the text above."


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ids = ConversationIds(b"k" * 32)
        self.mailbox = Mailbox(tmp_path / "media")
        self.links = MediaLinks(b"m" * 32)
        self.delivery = WebDelivery(self.mailbox, self.ids, links=self.links)
        self.attached: asyncio.Queue[Socket] = asyncio.Queue()
        self.detached: asyncio.Queue[Socket] = asyncio.Queue()
        self.url = ""
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        socket = Socket(ws, request.query["conversation"])
        self.delivery.attach(socket)
        await self.attached.put(socket)
        try:
            async for _ in ws:
                pass
        finally:
            self.delivery.detach(socket)
            await self.detached.put(socket)
        return ws

    async def tab(self, conversation: str) -> tuple[aiohttp.ClientWebSocketResponse, Socket]:
        """A page's socket of `conversation`, and the server's side of it once attached."""
        assert self.session is not None
        ws = await self.session.ws_connect(f"{self.url}?conversation={conversation}")
        async with asyncio.timeout(5):
            return ws, await self.attached.get()

    def ready(
        self, conversation: str, job_id: int, *, truncated: bool = False, kind: ScriptKind = "start"
    ) -> VideoReady:
        path = self.tmp_path / f"render-{job_id}.mp4"
        path.write_bytes(b"mp4 " + str(job_id).encode())
        return VideoReady(replace(job(conversation, job_id, truncated), script_kind=kind), path)


def job(conversation: str, job_id: int, truncated: bool = False) -> AvatarJob:
    key = ConversationKey("web", conversation)
    target = messages.dump_target(f"t{job_id}")
    return AvatarJob(job_id, key, "hi", target, JobState.RENDERED, truncated=truncated)


async def received(ws: aiohttp.ClientWebSocketResponse) -> Any:
    async with asyncio.timeout(5):
        return json.loads(await ws.receive_str())


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)
    app = web.Application()
    app.router.add_get("/ws", rig.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        rig.url = f"http://127.0.0.1:{runner.addresses[0][1]}/ws"
        async with aiohttp.ClientSession() as session:
            rig.session = session
            yield rig
    finally:
        await runner.cleanup()


def video(rig: Rig, conversation: str, job_id: int, note: str | None = None) -> Any:
    url = f"media/{job_id}.mp4?sig={rig.links.sign(f'{job_id}.mp4')}"
    message = {"type": "video", "turn": f"t{job_id}", "job": job_id, "url": url}
    return message | {"note": note} if note else message


def failure(job_id: int, message: str) -> Any:
    return {
        "type": "error",
        "turn": f"t{job_id}",
        "code": "video_failed",
        "message": message,
        "job": job_id,
    }


async def test_a_video_is_filed_then_shown_in_every_tab_of_its_conversation_only(
    rig: Rig,
) -> None:
    (first, _), (second, _), (other, _) = [await rig.tab(c) for c in ("a", "a", "b")]
    await rig.delivery.deliver_video(rig.ready("a", 5))
    assert [await received(first), await received(second)] == [video(rig, "a", 5)] * 2
    assert await rig.mailbox.after("a", 0) == [Entry(5, "t5")]
    assert (await rig.mailbox.video("a", 5)) is not None
    assert await rig.mailbox.after("b", 0) == []
    await rig.delivery.broadcast("b", {"type": "marker"})
    assert await received(other) == {"type": "marker"}  # and nothing before it


async def test_a_video_that_says_only_the_start_carries_the_note(rig: Rig) -> None:
    ws, _ = await rig.tab("a")
    await rig.delivery.deliver_video(rig.ready("a", 6, truncated=True))
    assert await received(ws) == video(rig, "a", 6, TRUNCATED)


async def test_a_video_that_sums_up_the_answer_carries_that_note(rig: Rig) -> None:
    ws, _ = await rig.tab("a")
    await rig.delivery.deliver_video(rig.ready("a", 6, truncated=True, kind="summary"))
    assert await received(ws) == video(rig, "a", 6, SUMMED_UP)


async def test_a_failure_is_filed_then_said_in_every_tab_of_its_conversation(rig: Rig) -> None:
    (first, _), (second, _), (other, _) = [await rig.tab(c) for c in ("a", "a", "b")]
    await rig.delivery.deliver_failure(AvatarFailed(job("a", 8), "No video this time."))
    expected = failure(8, "No video this time.")
    assert [await received(first), await received(second)] == [expected, expected]
    assert await rig.mailbox.after("a", 0) == [Entry(8, "t8", "No video this time.")]
    await rig.delivery.broadcast("b", {"type": "marker"})
    assert await received(other) == {"type": "marker"}  # and nothing before it


async def test_a_tab_that_comes_back_gets_what_it_missed_after_its_last_job(rig: Rig) -> None:
    await rig.delivery.deliver_video(rig.ready("a", 3))
    await rig.delivery.deliver_failure(AvatarFailed(job("a", 4), "Not this one."))
    await rig.delivery.deliver_video(rig.ready("a", 9))
    ws, socket = await rig.tab("a")
    await rig.delivery.replay(socket, 3)
    assert [await received(ws), await received(ws)] == [
        failure(4, "Not this one."),
        video(rig, "a", 9),  # replayed without the note: the page has the text
    ]


async def test_closed_tabs_are_forgotten_and_sending_to_them_raises_nothing(rig: Rig) -> None:
    (first, socket_one), (second, socket_two) = [await rig.tab("a") for _ in range(2)]
    _, socket_b = await rig.tab("b")
    assert set(rig.delivery.sockets("a")) == {socket_one, socket_two}
    assert set(rig.delivery.sockets()) == {socket_one, socket_two, socket_b}
    await first.close()
    async with asyncio.timeout(5):
        assert await rig.detached.get() is socket_one
    assert rig.delivery.sockets("a") == [socket_two]
    await socket_one.send({"type": "late"})  # closed: dropped quietly
    await second.close()
    async with asyncio.timeout(5):
        assert await rig.detached.get() is socket_two
    assert rig.delivery.sockets() == [socket_b]
    rig.delivery.detach(socket_one)  # detaching again is harmless
    assert rig.delivery.sockets("a") == [] and rig.delivery.sockets() == [socket_b]
    await rig.delivery.deliver_video(rig.ready("a", 2))  # nobody open: filed only
    assert await rig.mailbox.after("a", 0) == [Entry(2, "t2")]
