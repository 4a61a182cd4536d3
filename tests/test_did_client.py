"""Our D-ID client against the local fake D-ID: auth, lifecycle, retries and refusals."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.avatar.did import DIDClient, PollSchedule, _created
from core.errors import ConfigurationError, OutOfCreditsError, ServiceError
from tests.fakes.did import FakeDID

FAST = PollSchedule(first=0.01, interval=0.01, timeout=5.0)


@pytest.fixture
async def did() -> AsyncIterator[FakeDID]:
    async with FakeDID(render_seconds=0.03) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


def client(did: FakeDID, http: httpx.AsyncClient, key: str | None = None) -> DIDClient:
    return DIDClient(
        http,
        api_key=key or did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="en-US-JennyNeural",
        schedule=FAST,
        backoff=0.0,
    )


async def test_talk_lifecycle_submit_poll_download(did: FakeDID, http: httpx.AsyncClient) -> None:
    renderer = client(did, http)
    talk_id = await renderer.submit("Hello there")
    request = did.talks[talk_id].request
    assert request["source_url"] == "https://example.com/face.jpg"
    assert request["script"] == {
        "type": "text",
        "input": "Hello there",
        "provider": {"type": "microsoft", "voice_id": "en-US-JennyNeural"},
    }
    url = await renderer.wait(talk_id)
    assert await renderer.download(url) == did.video
    auth = did.calls("/talks", "POST")[0].headers["authorization"]
    assert auth == f"Basic {did.api_key}"  # the key goes exactly as D-ID shows it


async def test_first_poll_comes_soon_and_polls_are_bounded(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = client(did, http)
    did.hold_renders = True
    talk_id = await renderer.submit("Hi")
    schedule = PollSchedule(first=0.01, interval=0.01, timeout=0.2)
    bounded = DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="v",
        schedule=schedule,
    )
    with pytest.raises(ServiceError):
        await bounded.wait(talk_id)
    assert 1 <= did.talks[talk_id].polls <= 20


async def test_wrong_key_names_did_api_key(did: FakeDID, http: httpx.AsyncClient) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await client(did, http, key="wrong:key").submit("Hi")
    assert "DID_API_KEY" in caught.value.detail
    assert "wrong:key" not in caught.value.message


async def test_out_of_credits_is_its_own_error(did: FakeDID, http: httpx.AsyncClient) -> None:
    did.credits_remaining = 0
    with pytest.raises(OutOfCreditsError) as caught:
        await client(did, http).submit("Hi")
    assert "credits" in caught.value.message


async def test_429_and_5xx_are_retried(did: FakeDID, http: httpx.AsyncClient) -> None:
    did.fail_next("POST /talks", 429, headers={"retry-after": "0"})
    did.fail_next("POST /talks", 503)
    talk_id = await client(did, http).submit("Hi")
    assert talk_id in did.talks
    assert len(did.calls("/talks", "POST")) == 3


async def test_retries_are_bounded(did: FakeDID, http: httpx.AsyncClient) -> None:
    did.fail_next("POST /talks", 500, times=5)
    with pytest.raises(ServiceError) as caught:
        await client(did, http).submit("Hi")
    assert "busy" in caught.value.message
    assert len(did.calls("/talks", "POST")) == 3


async def test_poll_errors_do_not_end_the_wait(did: FakeDID, http: httpx.AsyncClient) -> None:
    renderer = client(did, http)
    talk_id = await renderer.submit("Hi")
    did.fail_next("GET /talks", 500, times=4)  # more than one request's retries
    assert (await renderer.wait(talk_id)).endswith(f"/results/{talk_id}.mp4")


@pytest.mark.parametrize("outcome", ["error", "rejected"])
async def test_failed_render_is_a_service_error(
    did: FakeDID, http: httpx.AsyncClient, outcome: str
) -> None:
    renderer = client(did, http)
    did.next_outcome(outcome, kind="FaceError", description="no face")  # type: ignore[arg-type]
    talk_id = await renderer.submit("Hi")
    with pytest.raises(ServiceError) as caught:
        await renderer.wait(talk_id)
    assert outcome in caught.value.detail


async def test_moderation_refusal(did: FakeDID, http: httpx.AsyncClient) -> None:
    did.fail_next("POST /talks", 451)
    with pytest.raises(ServiceError) as caught:
        await client(did, http).submit("Hi")
    assert "declined" in caught.value.message


async def test_expired_result_url(did: FakeDID, http: httpx.AsyncClient) -> None:
    renderer = client(did, http)
    url = await renderer.wait(await renderer.submit("Hi"))
    did.expire_results = True
    with pytest.raises(ServiceError):
        await renderer.download(url)


async def test_credits(did: FakeDID, http: httpx.AsyncClient) -> None:
    did.credits_remaining = 42
    assert await client(did, http).credits() == 42


def polls_until_done(schedule: PollSchedule, render: float, expected: float) -> tuple[int, float]:
    """Walk the schedule in simulated time: polls until one sees the render done, and the slack."""
    elapsed, polls = 0.0, 0
    while elapsed < render:
        elapsed += schedule.next_delay(elapsed, expected)
        polls += 1
    return polls, elapsed - render


@pytest.mark.parametrize(("render", "max_slack"), [(38.0, 1.5), (40.0, 1.0), (42.0, 1.0)])
def test_a_40_s_render_takes_few_polls_and_is_seen_soon(render: float, max_slack: float) -> None:
    schedule = PollSchedule()  # first 4 s, interval 1 s
    polls, slack = polls_until_done(schedule, render, expected=40.0)
    assert polls <= 12
    assert slack <= max_slack  # a render that ends early meets the last sparse poll


def test_waits_start_at_first_double_at_most_and_never_drop_below_the_interval() -> None:
    schedule = PollSchedule(first=4.0, interval=1.0)
    assert schedule.next_delay(0.0, 40.0) == 4.0
    assert schedule.next_delay(4.0, 40.0) == 4.0  # sparse early: at most the time so far
    assert schedule.next_delay(39.5, 40.0) == 1.0  # dense near the expected end
    assert schedule.next_delay(70.0, 40.0) == 10.0  # a third of the overdue time


async def test_the_client_learns_how_long_renders_take(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    schedule = PollSchedule(first=0.01, interval=0.01, timeout=5.0, expected=1.0)
    renderer = DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="v",
        schedule=schedule,
    )
    await renderer.wait(await renderer.submit("Hi"))
    assert renderer.expected_render_seconds < 1.0  # pulled towards the fake's 0.03 s


async def test_a_resumed_talk_does_not_change_the_estimate(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    talk_id = await client(did, http).submit("Hi")
    resumed = client(did, http)  # as after a restart: this client did not submit the talk
    before = resumed.expected_render_seconds
    await resumed.wait(talk_id)
    assert resumed.expected_render_seconds == before


async def test_a_resumed_talk_is_polled_at_once_then_from_its_age(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    did.hold_renders = True
    talk_id = await client(did, http).submit("Hi")
    talk = did.talks[talk_id]
    talk.created_at -= timedelta(seconds=29.9)  # submitted half a minute before the restart
    # A fresh schedule would wait `first` (10 s) before its first poll and again after it.
    schedule = PollSchedule(first=10.0, interval=0.01, timeout=60.0, expected=30.0)
    resumed = DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="v",
        schedule=schedule,
    )
    waiting = asyncio.create_task(resumed.wait(talk_id))
    try:
        await did.wait_for(lambda: talk.polls == 1, timeout=2.0)  # at once
        did.finish(talk_id)
        async with asyncio.timeout(2.0):  # the talk is due: the next poll comes within ~0.1 s
            assert (await waiting).endswith(f"/results/{talk_id}.mp4")
    finally:
        waiting.cancel()
    assert talk.polls == 2


def test_created_at_in_did_format_gives_the_talks_age() -> None:
    stamp = (datetime.now(UTC) - timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    started = _created({"created_at": stamp + "Z"})
    assert 11.5 < time.monotonic() - started < 13.0
    assert time.monotonic() - _created({"created_at": "garbage"}) < 1.0
    assert time.monotonic() - _created(None) < 1.0
