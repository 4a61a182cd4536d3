"""Our D-ID client against the local fake D-ID: auth, lifecycle, retries and refusals."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule, RenderEstimate, created, outcome
from core.avatar.expressions import driver_expressions
from core.errors import (
    ConfigurationError,
    OutOfCreditsError,
    ServiceError,
    TalkFailedError,
    UnavailableError,
    UnconfirmedError,
)
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


def client(
    did: FakeDID, http: httpx.AsyncClient, key: str | None = None, **options: Any
) -> DIDClient:
    """A client of the fake with a test's `options` over the fast defaults."""
    settings: dict[str, Any] = {"voice_id": "en-US-JennyNeural", "schedule": FAST, "backoff": 0.0}
    return DIDClient(
        http,
        api_key=key or did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        **(settings | options),
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
    bounded = client(did, http, voice_id="v", schedule=schedule)
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
    renderer = client(did, http, voice_id="v", schedule=schedule)
    await renderer.wait(await renderer.submit("Hi"))
    # Pulled 30 % of the way towards the render's time as polled (the fake's 0.03 s, plus
    # half the time between the last two polls): between 0.7 s and 1 s.
    assert 0.7 <= renderer.expected_render_seconds < 1.0


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
    resumed = client(did, http, voice_id="v", schedule=schedule)
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
    started = created({"created_at": stamp + "Z"})
    assert 11.5 < time.monotonic() - started < 13.0
    assert time.monotonic() - created({"created_at": "garbage"}) < 1.0
    assert time.monotonic() - created(None) < 1.0


# D-ID's error bodies (docs.d-id.com/reference/errors): `{kind, description}`, or `{message}`
# from its gateway (403, 5xx). The detail goes to the log and the job's error column, so the
# operator reads D-ID's own words there; the user gets one line by the kind of failure.
FAILED = "The avatar video couldn't be made this time."


@pytest.mark.parametrize(
    ("status", "body", "error", "message", "detail"),
    [
        (
            401,
            None,
            ConfigurationError,
            FAILED,
            "D-ID refused DID_API_KEY: D-ID POST /talks: 401 AuthorizationError"
            " user unauthenticated",
        ),
        (
            403,
            None,
            ConfigurationError,
            FAILED,
            "D-ID refused DID_API_KEY: D-ID POST /talks: 403  Forbidden",
        ),
        (
            402,
            None,
            OutOfCreditsError,
            "The avatar service is out of credits, so no video for now.",
            "The avatar service is out of credits, so no video for now.",
        ),
        (404, None, ServiceError, FAILED, "D-ID POST /talks: 404 NotFoundError talk not found"),
        (
            451,
            None,
            ServiceError,
            "The avatar service declined to say this answer.",
            "D-ID POST /talks: 451 ModerationError the content was flagged by moderation",
        ),
        (
            400,
            {"kind": "BadRequestError", "description": "bad", "message": "ignored"},
            ServiceError,
            FAILED,
            "D-ID POST /talks: 400 BadRequestError bad",
        ),
        (
            400,
            {"message": "gateway words"},
            ServiceError,
            FAILED,
            "D-ID POST /talks: 400  gateway words",
        ),
        (400, {}, ServiceError, FAILED, "D-ID POST /talks: 400  "),
        (400, "x" * 300, ServiceError, FAILED, "D-ID POST /talks: 400 " + "x" * 200),
        (
            400,
            ["y" * 400],
            ServiceError,
            FAILED,
            "D-ID POST /talks: " + ("400 ['" + "y" * 400)[:300],
        ),
    ],
    ids=["401", "403", "402", "404", "451", "description", "message", "empty", "text", "list"],
)
async def test_each_refusal_has_its_line_and_did_s_words_in_the_detail(
    did: FakeDID,
    http: httpx.AsyncClient,
    status: int,
    body: object,
    error: type[Exception],
    message: str,
    detail: str,
) -> None:
    did.fail_next("POST /talks", status, body=body)
    with pytest.raises(ServiceError) as caught:
        await client(did, http).submit("Hi")
    assert type(caught.value) is error
    assert (caught.value.message, caught.value.detail) == (message, detail)
    assert len(did.calls("/talks", "POST")) == 1  # a refusal is not retried


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits asked of asyncio.sleep (by tenacity between retries), taken at once."""
    asked: list[float] = []
    real = asyncio.sleep

    async def sleep(delay: float, result: object = None) -> object:
        if delay > 0:
            asked.append(delay)
        return await real(0, result)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return asked


def backing_off(did: FakeDID, http: httpx.AsyncClient, backoff: float) -> DIDClient:
    return client(did, http, voice_id="v", schedule=FAST, backoff=backoff)


async def test_retries_back_off_doubling_from_the_backoff(
    did: FakeDID, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    did.fail_next("POST /talks", 503, times=2)
    assert await backing_off(did, http, 0.5).submit("Hi") in did.talks
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(("header", "wait"), [("7", 7.0), ("0.25", 0.25), ("120", 60.0)])
async def test_a_429_waits_as_long_as_retry_after_says_at_most_a_minute(
    did: FakeDID, http: httpx.AsyncClient, sleeps: list[float], header: str, wait: float
) -> None:
    did.fail_next("POST /talks", 429, headers={"retry-after": header})
    assert await backing_off(did, http, 30.0).submit("Hi") in did.talks
    assert sleeps == [wait]


async def test_a_429_without_a_usable_retry_after_backs_off(
    did: FakeDID, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    did.fail_next("POST /talks", 429, headers={"retry-after": "soon"})
    did.fail_next("POST /talks", 503)
    assert await backing_off(did, http, 2.0).submit("Hi") in did.talks
    assert sleeps == [2.0, 4.0]


async def test_retries_that_run_out_say_busy_with_the_last_fault(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    did.fail_next("POST /talks", 503, times=3)
    with pytest.raises(UnavailableError) as caught:
        await client(did, http).submit("Hi")
    assert caught.value.message == "The avatar service is busy right now, so no video this time."
    assert caught.value.detail == "D-ID POST /talks: 503  Service Unavailable"


@pytest.mark.parametrize(
    ("endpoint", "body", "detail"),
    [
        ("POST /talks", {"object": "talk"}, 'D-ID answered without a talk id: {"object": "talk"}'),
        ("POST /images", {"id": "img_1"}, 'D-ID answered an upload with no url: {"id": "img_1"}'),
        ("POST /images", {"url": ""}, 'D-ID answered an upload with no url: {"url": ""}'),
        ("POST /images", ["s3://x"], 'D-ID answered an upload with no url: ["s3://x"]'),
    ],
    ids=["talk without id", "upload without url", "upload with empty url", "upload not an object"],
)
async def test_a_success_without_what_was_asked_for_fails_in_one_line(
    did: FakeDID, http: httpx.AsyncClient, endpoint: str, body: object, detail: str
) -> None:
    did.fail_next(endpoint, 201, body=body)
    renderer = client(did, http)
    with pytest.raises(ServiceError) as caught:
        if endpoint == "POST /talks":
            await renderer.submit("Hi")
        else:
            await renderer.upload_image(b"\xff\xd8\xff", "image/jpeg", "face.jpg")
    assert (caught.value.message, caught.value.detail) == (FAILED, detail)


def test_a_created_at_without_a_zone_is_read_as_utc() -> None:
    stamp = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    assert 29.5 < time.monotonic() - created({"created_at": stamp}) < 31.0


def test_a_created_at_ahead_of_our_clock_counts_as_just_created() -> None:
    ahead = (datetime.now(UTC) + timedelta(seconds=10)).isoformat()
    assert -0.5 < time.monotonic() - created({"created_at": ahead}) < 0.5


def test_the_estimate_moves_30_percent_of_the_way_to_each_timed_render() -> None:
    estimate = RenderEstimate(40.0)
    estimate.observe(10.0)
    assert estimate.seconds == pytest.approx(31.0)
    estimate.observe(31.0)
    assert estimate.seconds == pytest.approx(31.0)


async def test_credits_without_a_balance_are_none(did: FakeDID, http: httpx.AsyncClient) -> None:
    did.fail_next("GET /credits", 200, body={"credits": []})
    assert await client(did, http).credits() == 0


@pytest.mark.parametrize(
    ("elapsed", "expected", "delay"),
    [(1.0, 40.0, 3.0), (39.1, 40.0, 0.6), (40.0, 40.0, 0.1), (10.0, 40.0, 10.0)],
    ids=["before first", "just before the end", "at the end", "early"],
)
def test_each_wait_of_the_schedule(elapsed: float, expected: float, delay: float) -> None:
    schedule = PollSchedule(first=4.0, interval=0.1)
    assert schedule.next_delay(elapsed, expected) == pytest.approx(delay)


@pytest.mark.parametrize("outcome", ["error", "rejected"])
async def test_a_failed_render_names_d_id_s_kind_and_error(
    did: FakeDID, http: httpx.AsyncClient, outcome: str
) -> None:
    renderer = client(did, http)
    did.next_outcome(outcome, kind="FaceError", description="no face")  # type: ignore[arg-type]
    talk_id = await renderer.submit("Hi")
    with pytest.raises(TalkFailedError) as caught:
        await renderer.wait(talk_id)
    if outcome == "error":  # D-ID says why in `error`
        error = "{'kind': 'FaceError', 'description': 'no face'}"
        assert (caught.value.kind, caught.value.detail) == (
            "FaceError",
            f"talk {talk_id} error: {error}",
        )
    else:  # a rejected talk carries no `error`: its status is the kind
        assert caught.value.kind == "rejected"
        assert caught.value.detail == f"talk {talk_id} rejected: None"
    assert caught.value.message == FAILED


@pytest.mark.parametrize(
    "talk",
    [
        {"status": "done"},
        {"status": "done", "result_url": ""},
        {"status": "done", "result_url": 5},
        {"status": "started", "result_url": "https://x/v.mp4"},
        {"status": "created"},
    ],
    ids=["done without url", "empty url", "url not text", "started", "created"],
)
def test_a_talk_is_only_ready_when_done_with_a_result_url(talk: dict[str, object]) -> None:
    assert outcome("tlk_1", talk) is None


def test_an_error_without_a_kind_is_named_by_its_status() -> None:
    with pytest.raises(TalkFailedError) as caught:
        outcome("tlk_1", {"status": "error", "error": {"kind": 3}, "result_url": "https://x/"})
    assert caught.value.kind == "error"


async def test_a_talk_is_sent_with_its_own_voice_face_and_stitching(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url + "/",  # a trailing slash is fine
        source_url="https://example.com/face.jpg",
        voice_id="en-US-JennyNeural",
        schedule=FAST,
    )
    assert renderer.expected_render_seconds == FAST.expected
    talk_id = await renderer.submit("Hi", "es-MX-DaliaNeural", "s3://d-id-images-prod/u/face.png")
    assert did.talks[talk_id].request == {
        "source_url": "s3://d-id-images-prod/u/face.png",
        "script": {
            "type": "text",
            "input": "Hi",
            "provider": {"type": "microsoft", "voice_id": "es-MX-DaliaNeural"},
        },
        "config": {"stitch": True},  # no webhook, no user_data, no expressions
    }


@pytest.mark.parametrize("expressions", [True, False], ids=["on", "off"])
async def test_expressions_follow_the_script_s_tone_only_when_asked(
    did: FakeDID, http: httpx.AsyncClient, expressions: bool
) -> None:
    renderer = client(did, http, voice_id="v", expressions=expressions)
    text = "Congratulations, that is wonderful news!"
    config = did.talks[await renderer.submit(text)].request["config"]
    expected = {"stitch": True}
    if expressions:
        expected["driver_expressions"] = driver_expressions(text)  # type: ignore[assignment]
    assert config == expected
    neutral = did.talks[await renderer.submit("The train leaves at nine.")].request["config"]
    assert neutral == {"stitch": True}


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_each_transient_status_is_retried(
    did: FakeDID, http: httpx.AsyncClient, status: int
) -> None:
    did.fail_next("POST /talks", status)
    assert await client(did, http).submit("Hi") in did.talks
    assert len(did.calls("/talks", "POST")) == 2


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_fault_on_a_talk_is_not_sent_again_as_d_id_may_have_made_it(
    did: FakeDID, http: httpx.AsyncClient, status: int
) -> None:
    # D-ID's gateway answers 504 "Endpoint request timed out" while the talk goes on being made.
    did.fail_next("POST /talks", status, processed=True)
    with pytest.raises(UnconfirmedError) as caught:
        await client(did, http).submit("Hi")
    assert caught.value.message == "The avatar service is busy right now, so no video this time."
    assert "may have taken it" in caught.value.detail
    assert len(did.calls("/talks", "POST")) == 1 and len(did.talks) == 1  # one talk, not two
    did.fail_next("GET /credits", status)  # a read is safe to send again
    assert await client(did, http).credits() == did.credits_remaining
    assert len(did.calls("/credits", "GET")) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 501])
async def test_other_errors_are_not_retried(
    did: FakeDID, http: httpx.AsyncClient, status: int
) -> None:
    did.fail_next("POST /talks", status)
    with pytest.raises(ServiceError) as caught:
        await client(did, http).submit("Hi")
    assert type(caught.value) is ServiceError
    assert len(did.calls("/talks", "POST")) == 1


async def test_a_timeout_is_retried_and_the_attempts_are_a_setting(did: FakeDID) -> None:
    # A held answer times out after 1 s; an answer that is not held comes well within it.
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=1.0)) as http:
        renderer = client(did, http, voice_id="v", attempts=2, backoff=0.0)
        did.delay_next("GET /credits", 30.0)
        assert await renderer.credits() == did.credits_remaining  # the second attempt
        for _ in range(2):
            did.delay_next("GET /credits", 30.0)
        with pytest.raises(UnavailableError) as caught:
            await renderer.credits()
    assert caught.value.detail == "D-ID GET /credits: ReadTimeout('')"
    assert len(did.calls("/credits", "GET")) == 4


async def test_a_talk_whose_answer_timed_out_is_not_sent_again(did: FakeDID) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.5)) as http:
        renderer = client(did, http, voice_id="v", backoff=0.0)
        did.delay_next("POST /talks", 30.0)  # D-ID takes it, and answers late
        with pytest.raises(UnconfirmedError) as caught:
            await renderer.submit("Hi")
    assert caught.value.detail == "D-ID POST /talks: ReadTimeout('') (D-ID may have taken it)"
    assert len(did.calls("/talks", "POST")) == 1


async def test_a_talk_whose_connection_failed_is_sent_again(did: FakeDID) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        # Nothing listens on port 9 (discard): the connection is refused.
        dead = DIDClient(
            http, api_key="k", base_url="http://127.0.0.1:9", source_url="https://x/f.jpg",
            voice_id="v", attempts=2, backoff=0.0,
        )  # fmt: skip
        with pytest.raises(UnavailableError) as caught:
            await dead.submit("Hi")
    assert type(caught.value) is UnavailableError  # never reached D-ID: safe to retry
    assert "ConnectError" in caught.value.detail


async def test_a_wait_ends_at_its_timeout_even_before_its_first_poll(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    did.hold_renders = True
    renderer = client(did, http, voice_id="v", schedule=PollSchedule(first=30.0, timeout=0.3))
    talk_id = await renderer.submit("Hi")
    with pytest.raises(ServiceError) as caught:
        async with asyncio.timeout(10):  # the first poll would come after 30 s
            await renderer.wait(talk_id)
    assert caught.value.detail == f"talk {talk_id} not done after 0.3s"
    assert caught.value.message == FAILED
    assert did.talks[talk_id].polls == 1  # the last chance, at the timeout
    assert renderer.expected_render_seconds == 40.0  # no render timed
