"""Prometheus metrics: the wired bot counts turns, answers, renders, retries and refusals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import PrometheusMetrics, groq_retries, metrics_endpoint, telegram_retries
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at, terminal

FAST_RETRY = {"retry-after-ms": "1"}  # the groq SDK waits this long before its retry

GROQ_REPLY = "Hello there."  # what the fake model answers (tests/conftest.py)


def free_ports(count: int) -> list[int]:
    """Ports free right now, all different (the probes are open together)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name` with `labels` in a scrape; 0 when it is not there."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


class Watched:
    """A bot's metrics, with a way to wait until a scrape shows something.

    A video is counted as delivered just after the user got it, so tests wait for the count.
    """

    def __init__(self, metrics: PrometheusMetrics, monkeypatch: pytest.MonkeyPatch) -> None:
        self._metrics, self._changed = metrics, asyncio.Event()
        for name in ("message", "first_text", "answer", "render", "retry", "refusal"):
            monkeypatch.setattr(metrics, name, self._waking(getattr(metrics, name)))

    def _waking(self, count: Callable[..., None]) -> Callable[..., None]:
        def counted(*args: Any, **kwargs: Any) -> None:
            count(*args, **kwargs)
            self._changed.set()

        return counted

    def scrape(self) -> str:
        return self._metrics.exposition()[0].decode()

    async def until(self, done: Callable[[str], bool], timeout: float = 5.0) -> str:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not done(text := self.scrape()):
                self._changed.clear()
                await self._changed.wait()
        return text


async def test_a_web_turn_and_its_video_are_counted_at_the_metrics_port(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    web, metrics = free_ports(2)
    settings = settings_for(
        tmp_path, groq, did, WEB_ENABLED=True, WEB_PORT=web, METRICS_PORT=metrics
    )
    scraped = ""

    async def scrape(session: aiohttp.ClientSession) -> str:
        async with session.get(f"http://127.0.0.1:{metrics}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            return await response.text()

    async with aiohttp.ClientSession() as session, running_bot(settings):
        url = f"ws://127.0.0.1:{web}/ws?conversation=alice-0123456789"
        async with asyncio.timeout(10):  # the server binds in the background task
            while True:
                try:
                    ws = await session.ws_connect(url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
        async with ws:
            await ws.receive_json(timeout=5)  # ready
            await ws.send_json({"type": "text", "turn": "t1", "text": "hi"})
            while (await ws.receive_json(timeout=5))["type"] != "video":
                pass
        async with asyncio.timeout(5):
            while value(scraped, "avatarbot_renders_total", state="delivered") < 1:
                scraped = await scrape(session)

    assert value(scraped, "avatarbot_messages_total", platform="web") == 1
    assert value(scraped, "avatarbot_answers_total", platform="web", outcome="answered") == 1
    assert value(scraped, "avatarbot_answers_total", platform="web", outcome="failed") == 0
    assert value(scraped, "avatarbot_first_text_seconds_count", platform="web") == 1
    assert value(scraped, "avatarbot_answer_seconds_count", platform="web") == 1
    assert 0 < value(scraped, "avatarbot_answer_seconds_sum", platform="web") < 5
    assert value(scraped, "avatarbot_renders_total", state="submitted") == 1
    assert value(scraped, "avatarbot_render_seconds_count") == 1
    assert value(scraped, "avatarbot_retries_total", service="groq") == 0
    # Label values that are known up front are exported from the first scrape on.
    assert "avatarbot_quota_refusals_total{limit=" in scraped


async def test_retries_and_failed_answers_are_counted(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, monkeypatch: pytest.MonkeyPatch
) -> None:
    groq.fail_next("chat/completions", 429, headers=FAST_RETRY)
    did.fail_next("POST /talks", 429)  # retry-after: 0
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, core):
        metrics = Watched(core.metrics, monkeypatch)
        await chat.handle("first")
        await metrics.until(lambda t: value(t, "avatarbot_renders_total", state="delivered") == 1)
        # Every attempt fails: the SDK retries twice and gives up.
        groq.fail_next("chat/completions", 500, headers=FAST_RETRY, times=3)
        await chat.handle("second")
        await screen.wait_for("⚠️")
        text = metrics.scrape()
    assert value(text, "avatarbot_messages_total", platform="terminal") == 2
    assert value(text, "avatarbot_answers_total", platform="terminal", outcome="answered") == 1
    assert value(text, "avatarbot_answers_total", platform="terminal", outcome="failed") == 1
    assert value(text, "avatarbot_answer_seconds_count", platform="terminal") == 1  # answered only
    assert value(text, "avatarbot_retries_total", service="groq") == 1 + 3
    assert value(text, "avatarbot_retries_total", service="did") == 1
    assert value(text, "avatarbot_renders_total", state="failed") == 0


async def test_telegram_answers_the_adapter_retries_are_counted(
    tmp_path: Path, groq: FakeGroq
) -> None:
    (port,) = free_ports(1)
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path,
            groq,
            None,
            **telegram_at(tg),
            METRICS_PORT=port,
        )
        tg.fail_next("sendMessage", 429, retry_after=0)
        tg.fail_next("sendMessage", 502)  # PTB's NetworkError: retried after a short backoff
        scraped = ""
        async with aiohttp.ClientSession() as session, running_bot(settings):
            tg.push_text(4242, "hello")
            await tg.wait_for(lambda: bool(tg.sent(4242, "sendMessage")), timeout=10)
            async with asyncio.timeout(5):  # the metrics server binds in the background
                while value(scraped, "avatarbot_retries_total", service="telegram") < 2:
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                            scraped = await response.text()
                    await asyncio.sleep(0.02)
    assert [m.text for m in tg.sent(4242, "sendMessage")] == [GROQ_REPLY]
    assert value(scraped, "avatarbot_retries_total", service="telegram") == 2


async def test_failed_renders_and_refusals_are_counted(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    did.next_outcome("error")
    settings = settings_for(
        tmp_path, groq, did, USER_MESSAGES_PER_MINUTE=3, AVATAR_DAILY_LIMIT_TOTAL=1
    )
    async with terminal(settings) as (chat, screen, core):
        await chat.handle("first")  # rendered, but D-ID fails the talk: its video is given back
        await screen.wait_for("couldn't be made")
        await chat.handle("second")  # the day's one video
        await screen.wait_for("avatar video ready")
        await chat.handle("third")  # over the daily videos
        await chat.handle("fourth")  # over the messages per minute
        await screen.wait_for("faster than I can answer")
        text = core.metrics.exposition()[0].decode()
    assert value(text, "avatarbot_renders_total", state="submitted") == 2
    assert value(text, "avatarbot_renders_total", state="failed") == 1
    assert value(text, "avatarbot_renders_total", state="delivered") == 1
    assert value(text, "avatarbot_render_seconds_count") == 1
    assert value(text, "avatarbot_quota_refusals_total", limit="renders") == 1
    assert value(text, "avatarbot_quota_refusals_total", limit="messages") == 1
    assert value(text, "avatarbot_messages_total", platform="terminal") == 4


async def test_each_bot_counts_in_its_own_registry(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.message("web")
    assert value(first.exposition()[0].decode(), "avatarbot_messages_total", platform="web") == 1
    assert value(second.exposition()[0].decode(), "avatarbot_messages_total") == 0
    async with terminal(settings_for(tmp_path, groq, None)) as (chat, screen, core):
        await chat.handle("hi")
        await screen.wait_for("Hello there.")
    async with terminal(settings_for(tmp_path, groq, None)) as (_, _, again):
        assert again.metrics is not core.metrics
        assert value(again.metrics.exposition()[0].decode(), "avatarbot_messages_total") == 0


async def test_openmetrics_is_served_when_asked_for() -> None:
    metrics = PrometheusMetrics()
    metrics.render("delivered", 12.5)
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")


async def test_a_taken_metrics_port_is_logged_and_the_bot_runs_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="bot.metrics"):
            async with metrics_endpoint(PrometheusMetrics(), "127.0.0.1", port) as bound:
                assert bound is None
    assert f"metrics not served: METRICS_PORT {port}" in caplog.text


def test_telegram_retries_are_what_the_adapter_retries() -> None:
    assert [telegram_retries(s) for s in (429, 500, 502, 503)] == [True] * 4
    assert [telegram_retries(s) for s in (200, 400, 401, 403, 409)] == [False] * 5


def test_groq_retries_follow_the_sdk() -> None:
    def response(status: int, **headers: str) -> httpx.Response:
        return httpx.Response(status, headers=headers)

    assert [groq_retries(response(s)) for s in (408, 409, 429, 500, 503)] == [True] * 5
    assert [groq_retries(response(s)) for s in (200, 400, 401, 404, 413)] == [False] * 5
    assert not groq_retries(response(503, **{"x-should-retry": "false"}))
    assert groq_retries(response(400, **{"x-should-retry": "true"}))
