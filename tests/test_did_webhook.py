"""D-ID's webhook: the fake D-ID POSTs each finished talk to the bot's web server, which wakes
the talk's wait at once; forged, stale or malformed callbacks wake nothing and get a final answer.
"""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from adapters.web.did_webhook import did_webhook_route
from bot.settings import Settings
from bot.settings_errors import describe
from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from core.avatar.webhook import WEBHOOK_BODY_MAX, DIDWebhook, Verdict
from core.errors import ServiceError
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

# With a webhook the first fallback poll comes after 20 s: a test that passes did not poll.
SCHEDULE = PollSchedule(first=0.01, interval=0.01, timeout=10.0)
CHAT = 2002


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


@pytest.fixture
async def webhook(did: FakeDID) -> AsyncIterator[DIDWebhook]:
    """A DIDWebhook served on 127.0.0.1 by the real route handler, as the web server serves it."""
    hook = DIDWebhook("http://127.0.0.1/did/hook", did.api_key)
    app = web.Application()
    method, path, handler = did_webhook_route(hook)
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/did/hook"
        hook.listening = True
        yield hook
    finally:
        await runner.cleanup()


def client(
    did: FakeDID, http: httpx.AsyncClient, hook: DIDWebhook, schedule: PollSchedule = SCHEDULE
) -> DIDClient:
    return DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="v",
        schedule=schedule,
        webhook=hook,
    )


async def post(url: str, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status, await response.text()


def forged_done(talk_id: str, nonce: str) -> bytes:
    talk = {"id": talk_id, "status": "done", "user_data": nonce, "result_url": "https://evil.x/"}
    return json.dumps(talk).encode()


async def test_the_callback_wakes_the_wait_without_a_poll(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    renderer = client(did, http, webhook)
    did.hold_renders = True
    talk_id = await renderer.submit("Hi")
    sent = did.talks[talk_id].request
    assert sent["webhook"] == webhook.url_for(sent["user_data"])
    assert len(sent["webhook"].rsplit("/", 1)[1]) == 64  # an HMAC-SHA256, hex
    waiting = asyncio.create_task(renderer.wait(talk_id))
    did.finish(talk_id)
    url = await asyncio.wait_for(waiting, 5)
    assert url == did.result_url(talk_id)
    assert did.talks[talk_id].polls == 0
    assert [d.status for d in did.webhooks] == [200]
    # D-ID calling again for the finished talk is answered, and ignored.
    assert await post(sent["webhook"], json.dumps(did.webhooks[0].payload).encode()) == (
        200,
        "ignored",
    )


async def test_a_failed_render_arrives_by_callback(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    renderer = client(did, http, webhook)
    did.next_outcome("error", kind="FaceError", description="no face")
    talk_id = await renderer.submit("Hi")
    with pytest.raises(ServiceError) as caught:
        await asyncio.wait_for(renderer.wait(talk_id), 5)
    assert "FaceError" in caught.value.detail
    assert did.talks[talk_id].polls == 0


async def test_forged_callbacks_wake_nothing(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    renderer = client(did, http, webhook)
    did.hold_renders = True
    first, second = await renderer.submit("one"), await renderer.submit("two")
    nonce = did.talks[first].request["user_data"]
    waiting = asyncio.create_task(renderer.wait(second))
    try:
        wrong = f"{webhook.url}/{'0' * 64}"
        assert await post(wrong, forged_done(second, nonce)) == (404, "not found")
        # The first talk's genuine token and nonce do not open the second talk's wait.
        theirs = did.talks[first].request["webhook"]
        assert await post(theirs, forged_done(second, nonce)) == (404, "not found")
        did.finish(second)
        assert await asyncio.wait_for(waiting, 5) == did.result_url(second)  # not evil.x
    finally:
        waiting.cancel()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b'["a", "list"]',
        b'"a string"',
        b"[" * 5000 + b"]" * 5000,
        b'{"id": "t", "deep": ' + b"[" * 20 + b"1" + b"]" * 20 + b"}",
        json.dumps({"id": "t", "pad": "x" * WEBHOOK_BODY_MAX}).encode(),
    ],
)
async def test_bodies_that_are_not_talks_get_400(
    did: FakeDID, webhook: DIDWebhook, body: bytes
) -> None:
    assert await post(webhook.url_for("nonce"), body) == (400, "not a talk")


async def test_a_genuine_callback_nobody_waits_for_is_answered_200(
    did: FakeDID, webhook: DIDWebhook
) -> None:
    status = await post(webhook.url_for("n"), forged_done("tlk_unknown", "n"))
    assert status == (200, "ignored")  # e.g. another replica's talk: D-ID must not retry


async def test_a_resumed_talk_is_polled_once_then_woken_by_its_callback(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    did.hold_renders = True
    talk_id = await client(did, http, webhook).submit("Hi")
    resumed = client(did, http, webhook)  # as after a restart: same key, same secret
    waiting = asyncio.create_task(resumed.wait(talk_id))
    try:
        await did.wait_for(lambda: did.talks[talk_id].polls == 1)
        did.finish(talk_id)
        assert await asyncio.wait_for(waiting, 5) == did.result_url(talk_id)
    finally:
        waiting.cancel()
    assert did.talks[talk_id].polls == 1


async def test_polls_go_on_when_the_callback_is_lost(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    webhook.url = f"http://127.0.0.1:{free_port()}/did/hook"  # nothing listens there
    renderer = client(did, http, webhook, PollSchedule(timeout=10.0, fallback=0.05))
    talk_id = await renderer.submit("Hi")
    assert await asyncio.wait_for(renderer.wait(talk_id), 5) == did.result_url(talk_id)
    assert did.webhooks[0].status is None and did.talks[talk_id].polls >= 1


async def test_the_bot_serves_the_webhook_and_sends_the_video_without_polling(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    port = free_port()
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path,
            groq,
            did,
            **telegram_at(tg),
            WEB_ENABLED=True,
            WEB_PORT=port,
            DID_WEBHOOK_URL=f"http://127.0.0.1:{port}/did/hook",
        )
        async with running_bot(settings):
            await _serving(port)
            tg.push_text(CHAT, "video please", user_id=CHAT)
            await tg.wait_for_sent(CHAT, "sendVideo")
    (talk,) = did.talks.values()
    assert talk.request["webhook"].startswith(f"http://127.0.0.1:{port}/did/hook/")
    assert [d.status for d in did.webhooks] == [200]
    assert talk.polls == 0  # the video came by the callback, not by a poll


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serving(port: int) -> None:
    """Wait (with a deadline) until the bot's web server answers."""
    async with asyncio.timeout(10), aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"DID_WEBHOOK_URL": "https://bot.example.com/did", "WEB_ENABLED": False}, "WEB_ENABLED"),
        ({"DID_WEBHOOK_URL": "http://bot.example.com/did"}, "https://"),
        ({"DID_WEBHOOK_URL": "https://bot.example.com/did?x=1"}, "no query"),
    ],
)
def test_webhook_settings_are_checked(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"GROQ_API_KEY": "k", **values})
    assert message in describe(caught.value)


def test_a_blank_webhook_url_is_unset() -> None:
    settings = Settings.model_validate({"GROQ_API_KEY": "k", "DID_WEBHOOK_URL": " "})
    assert settings.DID_WEBHOOK_URL is None


async def test_a_resumed_talk_sent_without_a_webhook_is_polled_and_leaves_no_wait_behind(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    did.hold_renders = True
    plain = DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="v",
        schedule=SCHEDULE,
    )
    talk_id = await plain.submit("Hi")  # before the webhook was configured: no user_data
    assert "user_data" not in did.talks[talk_id].request
    waiting = asyncio.create_task(client(did, http, webhook).wait(talk_id))
    try:
        await did.wait_for(lambda: did.talks[talk_id].polls >= 2)  # on the schedule
        did.finish(talk_id)
        assert await asyncio.wait_for(waiting, 5) == did.result_url(talk_id)
    finally:
        waiting.cancel()
    # Nothing waits for the talk any more: even a genuine callback for it is ignored.
    late = json.dumps({"id": talk_id, "status": "done", "user_data": "n"}).encode()
    assert webhook.receive(webhook.token("n"), late) is Verdict.IGNORED


async def test_a_finished_wait_leaves_no_wait_behind(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    renderer = client(did, http, webhook)
    talk_id = await renderer.submit("Hi")
    nonce = did.talks[talk_id].request["user_data"]
    assert await asyncio.wait_for(renderer.wait(talk_id), 5) == did.result_url(talk_id)
    late = json.dumps({"id": talk_id, "status": "done", "user_data": nonce}).encode()
    assert webhook.receive(webhook.token(nonce), late) is Verdict.IGNORED


async def test_a_resumed_talk_takes_only_a_callback_with_its_own_nonce(
    did: FakeDID, http: httpx.AsyncClient, webhook: DIDWebhook
) -> None:
    did.hold_renders = True
    renderer = client(did, http, webhook)
    other, talk_id = await renderer.submit("other"), await renderer.submit("Hi")
    resumed = client(did, http, webhook)  # as after a restart: it learns the nonce by a poll
    waiting = asyncio.create_task(resumed.wait(talk_id))
    try:
        await did.wait_for(lambda: did.talks[talk_id].polls == 1)
        # The other talk's genuine token and nonce, aimed at this talk: it must not end it.
        nonce = did.talks[other].request["user_data"]
        await post(did.talks[other].request["webhook"], forged_done(talk_id, nonce))
        did.finish(talk_id)
        assert await asyncio.wait_for(waiting, 5) == did.result_url(talk_id)  # not evil.x
    finally:
        waiting.cancel()
