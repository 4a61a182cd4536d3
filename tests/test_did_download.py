"""The rendered video is fetched only from D-ID's result hosts, capped in size, and an MP4.

Every test goes through the real httpx client on the aiohttp pool the bot uses, against the
fake D-ID, which can report a `result_url` elsewhere and serve a huge or non-MP4 body.
"""

import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.services import DID_POOL
from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from core.avatar.video import fetch_video, refusal
from core.errors import ServiceError
from core.http import pooled_client
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal

FAST = PollSchedule(first=0.01, interval=0.01, timeout=5.0)
CAP = 1024 * 1024


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with pooled_client(DID_POOL, timeout=httpx.Timeout(5.0)) as client:
        yield client


def client(did: FakeDID, http: httpx.AsyncClient) -> DIDClient:
    return DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="en-US-JennyNeural",
        schedule=FAST,
        backoff=0.0,
        max_video_bytes=CAP,
    )


async def rendered(did: FakeDID, renderer: DIDClient) -> str:
    return await renderer.wait(await renderer.submit("Hello"))


async def test_the_fakes_own_result_url_downloads(did: FakeDID, http: httpx.AsyncClient) -> None:
    renderer = client(did, http)
    assert await renderer.download(await rendered(did, renderer)) == did.video


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example.com/tlk_x/video.mp4", "is not D-ID's"),
        ("https://d-id-talks-prod.s3.us-west-2.amazonaws.com.evil.example/v.mp4", "is not D-ID's"),
        ("https://evil-bucket.s3.us-west-2.amazonaws.com/v.mp4", "is not D-ID's"),
        ("http://d-id-talks-prod.s3.us-west-2.amazonaws.com/v.mp4", "not https"),
        ("ftp://d-id-talks-prod.s3.us-west-2.amazonaws.com/v.mp4", "not https"),
        ("https://d-id-talks-prod.s3.us-west-2.amazonaws.com:8443/v.mp4", "port 8443"),
        ("https://u:p@d-id-talks-prod.s3.us-west-2.amazonaws.com/v.mp4", "credentials"),
    ],
)
async def test_a_result_url_off_did_is_refused_before_any_request(
    did: FakeDID, http: httpx.AsyncClient, url: str, reason: str
) -> None:
    renderer = client(did, http)
    did.next_result_url(url)
    assert await rendered(did, renderer) == url  # what D-ID reported
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)  # a request would also trip the loopback-only guard
    assert reason in caught.value.detail
    assert caught.value.message == "The avatar video couldn't be made this time."


async def test_the_fake_under_another_host_name_is_refused(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = client(did, http)
    (talk_id,) = [await renderer.submit("Hello")]
    other = did.result_url(talk_id).replace("127.0.0.1", "localhost")
    with pytest.raises(ServiceError) as caught:
        await renderer.download(other)
    assert "not https" in caught.value.detail
    assert did.talks[talk_id].downloads == 0


def test_did_hosts_and_the_configured_base_are_allowed() -> None:
    base = "https://api.d-id.com"
    for url in (
        "https://d-id-talks-prod.s3.us-west-2.amazonaws.com/google-oauth2%7C1/tlk_a/1.mp4?X=1",
        "https://D-ID-TALKS-PROD.s3.amazonaws.com/tlk_a/1.mp4",
        "https://create-images-results.d-id.com/a.mp4",
        "https://api.d-id.com/results/a.mp4",
    ):
        assert refusal(url, base) is None, url
    assert refusal("http://127.0.0.1:9/results/a.mp4", "http://127.0.0.1:9") is None
    assert refusal("http://127.0.0.1:10/results/a.mp4", "http://127.0.0.1:9") is not None


async def test_an_oversized_body_is_stopped_without_reading_it_all(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    total = 64 * CAP
    did.oversized_result = total  # chunked: no Content-Length to refuse it by
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)
    assert f"over {CAP} bytes, stopped" in caught.value.detail
    await did.wait_for(lambda: did.oversized_served == 1)
    assert did.result_bytes_sent < total // 2  # the connection was dropped, not drained


async def test_an_oversized_content_length_is_refused_at_once(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    did.oversized_result, did.oversized_sized = 64 * CAP, True
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)
    assert f"{64 * CAP} bytes, over {CAP}" in caught.value.detail


async def test_a_body_that_is_not_an_mp4_is_refused(did: FakeDID, http: httpx.AsyncClient) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    did.video = b"<html><body>Access denied</body></html>"
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)
    assert "not an MP4" in caught.value.detail


async def test_a_refused_video_fails_the_job_in_one_line(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, caplog: pytest.LogCaptureFixture
) -> None:
    did.next_result_url("https://evil.example.com/tlk_x/video.mp4")
    settings = settings_for(tmp_path, groq, did)
    with caplog.at_level(logging.WARNING, logger="core.avatar.jobs"):
        async with terminal(settings) as (chat, screen, _):
            await chat.handle("Hello")
            await screen.wait_for("The avatar video couldn't be made this time.")
    assert "avatar video ready" not in screen.text
    assert any("host 'evil.example.com' is not D-ID's" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
async def test_a_video_of_exactly_the_cap_downloads(
    did: FakeDID, http: httpx.AsyncClient, sized: bool
) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    did.oversized_result, did.oversized_sized = CAP, sized
    video = await renderer.download(url)
    assert len(video) == CAP and video[4:8] == b"ftyp"


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
async def test_one_byte_over_the_cap_is_refused(
    did: FakeDID, http: httpx.AsyncClient, sized: bool
) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    did.oversized_result, did.oversized_sized = CAP + 1, sized
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)
    over = f"{CAP + 1} bytes, over {CAP}" if sized else f"over {CAP} bytes, stopped"
    assert caught.value.detail == f"video download: {over}"


async def test_an_s3_refusal_is_one_line_with_s3_s_words_in_the_detail(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    did.fail_next("GET /results", 503, body="<Error><Code>SlowDown</Code>" + "x" * 300)
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)
    assert caught.value.message == "The avatar video couldn't be made this time."
    body = ("<Error><Code>SlowDown</Code>" + "x" * 300)[:200]
    assert caught.value.detail == f"video download: 503 {body}"


async def test_a_download_that_cannot_connect_is_one_line(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(ServiceError) as caught:
        await fetch_video(http, f"{base}/results/tlk_1.mp4", base_url=base)
    assert caught.value.message == "The avatar video couldn't be made this time."
    detail = caught.value.detail
    assert detail.startswith("video download failed: Connect") and f"127.0.0.1:{port}" in detail


async def test_a_body_that_is_not_an_mp4_shows_its_first_bytes(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    renderer = client(did, http)
    url = await rendered(did, renderer)
    did.video = b"\x00\x00\x00\x18ftyx" + b"z" * 40
    with pytest.raises(ServiceError) as caught:
        await renderer.download(url)
    assert caught.value.detail == "video download: not an MP4: b'\\x00\\x00\\x00\\x18ftyxzzzzzzzz'"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://u@d-id-talks-prod.s3.amazonaws.com/v.mp4", "credentials in the URL"),
        ("https://:p@d-id-talks-prod.s3.amazonaws.com/v.mp4", "credentials in the URL"),
        ("https://d-id-talks-prod.s3.amazonaws.com:443/v.mp4", None),
        ("https://d-id-talks-prod.s3.amazonaws.com:444/v.mp4", "port 444"),
        ("https://d-id-talks-prod.s3.amazonaws.com:99999/v.mp4", "not a URL"),
        ("https://[::1/v.mp4", "not a URL"),
        ("//d-id-talks-prod.s3.amazonaws.com/v.mp4", "no scheme, not https"),
        ("http://d-id-talks-prod.s3.amazonaws.com/v.mp4", "http scheme, not https"),
        ("https://d-id.com/v.mp4", "host 'd-id.com' is not D-ID's"),
        ("https://evil-d-id.com/v.mp4", "host 'evil-d-id.com' is not D-ID's"),
        ("https:///v.mp4", "host '' is not D-ID's"),
        ("https://results.d-id.com/v.mp4", None),
        ("https://api.d-id.com/results/v.mp4", None),
    ],
    ids=[
        "user",
        "password",
        "port 443",
        "port 444",
        "bad port",
        "bad host",
        "no scheme",
        "http",
        "bare domain",
        "lookalike",
        "no host",
        "cdn",
        "base",
    ],
)
def test_why_a_result_url_is_refused(url: str, reason: str | None) -> None:
    assert refusal(url, "https://api.d-id.com") == reason
