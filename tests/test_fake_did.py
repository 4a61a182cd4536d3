"""Self-test of FakeDID: the talks lifecycle, errors and faults over plain httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.fakes.did import AVATAR_MP4, FakeDID, OutcomeStatus

TALK = {
    "source_url": "https://example.com/avatar.png",
    "script": {
        "type": "text",
        "input": "Hello there!",
        "provider": {"type": "microsoft", "voice_id": "en-US-JennyNeural"},
    },
    "config": {"fluent": True, "stitch": True},
    "user_data": '{"chat": 42}',
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDID]:
    async with FakeDID() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeDID) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Basic {fake.api_key}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
async def s3() -> AsyncIterator[httpx.AsyncClient]:
    """A client without the D-ID key, as presigned result URLs need."""
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def create(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> str:
    response = await client.post("/talks", json=body or TALK)
    assert response.status_code == 201, response.text
    talk_id: str = response.json()["id"]
    return talk_id


async def test_lifecycle_held_then_finished(
    fake: FakeDID, client: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    fake.hold_renders = True
    response = await client.post("/talks", json=TALK)
    assert response.status_code == 201
    created = response.json()
    assert created["id"].startswith("tlk_")
    assert created["object"] == "talk"
    assert created["status"] == "created"
    assert created["created_at"].endswith("Z") and created["created_by"]
    talk_id = created["id"]
    assert fake.talks[talk_id].request == TALK

    started = (await client.get(f"/talks/{talk_id}")).json()
    assert started["status"] == "started"
    assert "pending_url" in started and "result_url" not in started

    fake.finish(talk_id)
    done = (await client.get(f"/talks/{talk_id}")).json()
    assert done["status"] == "done"
    assert done["result_url"] == f"{fake.base_url}/results/{talk_id}.mp4"
    assert done["user_data"] == TALK["user_data"]
    assert done["source_url"] == TALK["source_url"]
    assert done["config"]["fluent"] is True and done["config"]["stitch"] is True
    assert done["duration"] == 0.8  # "Hello there!": 2 words at 150 words a minute
    assert done["started_at"] and done["audio_url"]
    assert "pending_url" not in done

    video = await s3.get(done["result_url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content == AVATAR_MP4.read_bytes()
    assert fake.talks[talk_id].polls == 2
    assert fake.talks[talk_id].downloads == 1
    assert len(fake.calls(f"/talks/{talk_id}", "GET")) == 2


async def test_status_follows_render_time(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.render_seconds = 0
    quick = await create(client)
    assert (await client.get(f"/talks/{quick}")).json()["status"] == "done"

    fake.render_seconds = 60
    slow = await create(client)
    body = (await client.get(f"/talks/{slow}")).json()
    assert body["status"] == "created"
    assert "started_at" not in body and "result_url" not in body


async def test_release_all_finishes_held_talks(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.hold_renders = True
    ids = [await create(client), await create(client)]
    fake.release_all()
    for talk_id in ids:
        assert (await client.get(f"/talks/{talk_id}")).json()["status"] == "done"


@pytest.mark.parametrize("scheme", ["missing", "bearer", "wrong key"])
async def test_basic_auth_enforced(fake: FakeDID, scheme: str) -> None:
    headers = {
        "missing": {},
        "bearer": {"Authorization": f"Bearer {fake.api_key}"},
        "wrong key": {"Authorization": "Basic d3Jvbmc:key"},
    }[scheme]
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as client:
        response = await client.post("/talks", json=TALK)
    assert response.status_code == 401
    assert response.json() == {"kind": "AuthorizationError", "description": "user unauthenticated"}
    assert fake.talks == {}


@pytest.mark.parametrize(
    "change",
    [
        {"source_url": None},
        {"script": {"type": "text", "input": ""}},
        {"script": {"type": "video"}},
        {"script": {"type": "audio"}},
        {"user_data": "x" * 1001},
    ],
)
async def test_invalid_talk_is_400(
    fake: FakeDID, client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    body = {k: v for k, v in {**TALK, **change}.items() if v is not None}
    response = await client.post("/talks", json=body)
    assert response.status_code == 400
    assert response.json()["kind"] == "BadRequestError"
    assert response.json()["description"]
    assert fake.talks == {} and fake.credits_remaining == 100


async def test_audio_script_is_accepted(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.render_seconds = 0
    audio = {"type": "audio", "audio_url": "https://example.com/a.mp3"}
    talk_id = await create(client, {"source_url": TALK["source_url"], "script": audio})
    assert (await client.get(f"/talks/{talk_id}")).json()["audio_url"] == audio["audio_url"]


async def test_credits_decrement_and_402_when_empty(
    fake: FakeDID, client: httpx.AsyncClient
) -> None:
    fake.credits_remaining = 1
    await create(client)
    credits = (await client.get("/credits")).json()
    assert credits["remaining"] == 0 and credits["total"] == 100
    entry = credits["credits"][0]
    for key in ("owner_id", "expire_at", "created_at", "product_id", "valid_from"):
        assert entry[key]
    assert entry["remaining"] == 0 and entry["total"] == 100

    response = await client.post("/talks", json=TALK)
    assert response.status_code == 402
    assert response.json() == {
        "kind": "InsufficientCreditsError",
        "description": "not enough credits",
    }
    assert len(fake.talks) == 1


def saying(words: int) -> dict[str, Any]:
    """A talk whose script is `words` words long."""
    provider = {"type": "microsoft", "voice_id": "en-US-JennyNeural"}
    return {
        **TALK,
        "script": {"type": "text", "input": " ".join(["word"] * words), "provider": provider},
    }


async def test_duration_follows_the_script_and_each_started_15_s_costs_a_credit(
    fake: FakeDID, client: httpx.AsyncClient
) -> None:
    fake.render_seconds = 0
    short = await create(client, saying(10))  # 4 s at 150 words a minute: 1 credit
    exact = await create(client, saying(37))  # 14.8 s: still 1 credit
    long = await create(client, saying(40))  # 16 s: 2 credits
    durations = [(await client.get(f"/talks/{t}")).json()["duration"] for t in (short, exact, long)]
    assert durations == [4.0, 14.8, 16.0]
    assert fake.credits_used == 4
    assert (await client.get("/credits")).json()["remaining"] == 96


@pytest.mark.parametrize("status", ["error", "rejected"])
async def test_a_failed_talk_gives_its_credits_back(
    fake: FakeDID, client: httpx.AsyncClient, status: OutcomeStatus
) -> None:
    fake.hold_renders = True
    fake.next_outcome(status)
    talk_id = await create(client, saying(40))
    assert (await client.get("/credits")).json()["remaining"] == 98  # held while it renders
    fake.finish(talk_id)
    assert (await client.get(f"/talks/{talk_id}")).json()["status"] == status
    assert (await client.get("/credits")).json()["remaining"] == 100
    assert fake.credits_used == 0


async def test_402_when_a_talk_costs_more_than_is_left(
    fake: FakeDID, client: httpx.AsyncClient
) -> None:
    fake.credits_remaining = 1
    response = await client.post("/talks", json=saying(40))  # 2 credits
    assert response.status_code == 402
    assert response.json() == {
        "kind": "InsufficientCreditsError",
        "description": "not enough credits",
    }
    assert fake.talks == {}
    await create(client, saying(10))  # 1 credit still fits
    assert fake.credits_remaining == 0 and fake.credits_used == 1


async def test_scripted_error_outcome(
    fake: FakeDID, client: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    fake.hold_renders = True
    fake.next_outcome("error", kind="FaceError", description="no face found in the image")
    failed = await create(client)
    fine = await create(client)
    fake.release_all()
    body = (await client.get(f"/talks/{failed}")).json()
    assert body["status"] == "error"
    assert body["error"] == {"kind": "FaceError", "description": "no face found in the image"}
    assert "result_url" not in body
    assert (await client.get(f"/talks/{fine}")).json()["status"] == "done"
    assert (await s3.get(fake.result_url(failed))).status_code == 404


async def test_scripted_rejection(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.render_seconds = 0
    fake.next_outcome("rejected")
    talk_id = await create(client)
    body = (await client.get(f"/talks/{talk_id}")).json()
    assert body["status"] == "rejected" and "result_url" not in body


async def test_rate_limit_fault_then_recovery(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.fail_next("POST /talks", 429, headers={"retry-after": "3"}, times=2)
    for _ in range(2):
        response = await client.post("/talks", json=TALK)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json() == {
            "kind": "TooManyRequestsError",
            "description": "Too Many Requests",
        }
    await create(client)
    assert len(fake.talks) == 1 and fake.credits_remaining == 99


async def test_fault_shapes(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.render_seconds = 0
    talk_id = await create(client)
    fake.fail_next("GET /talks", 504)
    fake.fail_next("GET /talks", 500)
    fake.fail_next("GET /credits", 451)
    gateway = await client.get(f"/talks/{talk_id}")
    assert gateway.status_code == 504 and set(gateway.json()) == {"message"}
    server = await client.get(f"/talks/{talk_id}")
    assert server.status_code == 500 and server.json()["kind"] == "InternalServerError"
    moderation = await client.get("/credits")
    assert moderation.status_code == 451 and moderation.json()["kind"] == "ModerationError"
    assert (await client.get(f"/talks/{talk_id}")).json()["status"] == "done"
    assert fake.talks[talk_id].polls == 3
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.fail_next("GET /talk", 500)


async def test_a_processed_fault_takes_effect_behind_its_error(
    fake: FakeDID, client: httpx.AsyncClient
) -> None:
    fake.fail_next("POST /talks", 504, processed=True)  # D-ID's gateway gave up; D-ID did not
    gateway = await client.post("/talks", json=TALK)
    assert gateway.status_code == 504
    assert gateway.json() == {"message": "Endpoint request timed out"}
    assert len(fake.talks) == 1
    fake.fail_next("POST /talks", 504, processed=True)
    refused = await client.post("/talks", json=TALK, headers={"Authorization": "Basic wrong"})
    assert refused.status_code == 504 and len(fake.talks) == 1  # a wrong key makes nothing


async def test_expired_result_url(
    fake: FakeDID, client: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    fake.render_seconds = 0
    talk_id = await create(client)
    result_url = (await client.get(f"/talks/{talk_id}")).json()["result_url"]
    fake.expire_results = True
    response = await s3.get(result_url)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in response.text
    assert "Request has expired" in response.text
    assert fake.talks[talk_id].downloads == 1


async def test_result_url_refuses_the_did_key(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.render_seconds = 0
    talk_id = await create(client)
    response = await client.get(fake.result_url(talk_id))
    assert response.status_code == 400
    assert "Only one auth mechanism allowed" in response.text


async def test_delay_lets_client_time_out(fake: FakeDID, client: httpx.AsyncClient) -> None:
    fake.delay_next("POST /talks", 10)
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/talks", json=TALK, timeout=0.05)
    # The server still creates the talk once the delay ends, as D-ID would.
    await fake.close()
    assert len(fake.talks) == 1


async def test_delete_and_unknown_talk(fake: FakeDID, client: httpx.AsyncClient) -> None:
    talk_id = await create(client)
    deleted = await client.delete(f"/talks/{talk_id}")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": 1}
    missing = await client.get(f"/talks/{talk_id}")
    assert missing.status_code == 404
    assert missing.json() == {"kind": "NotFoundError", "description": "talk not found"}


async def test_webhook_receives_final_talk(fake: FakeDID, client: httpx.AsyncClient) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        fake.hold_renders = True
        port = runner.addresses[0][1]
        talk_id = await create(client, {**TALK, "webhook": f"http://127.0.0.1:{port}/hook"})
        fake.finish(talk_id)
        await fake.wait_for(lambda: len(fake.webhooks) == 1)
    finally:
        await runner.cleanup()
    assert fake.webhooks[0].status == 200
    assert received == [fake.webhooks[0].payload]
    assert received[0]["id"] == talk_id and received[0]["status"] == "done"
    assert received[0]["user_data"] == TALK["user_data"]
