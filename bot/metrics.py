"""Prometheus metrics: the core's `Metrics` port on a per-process registry, and its endpoint.

The registry belongs to one `PrometheusMetrics`, built by bot/wiring.py, never to this module:
two bots in one process (as in the tests) count apart, and nothing leaks between them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

from core.ports import Limit, Outcome, RenderState

log = logging.getLogger(__name__)

# Seconds. A first text comes within a second or two, a whole answer within a few seconds,
# and a D-ID render takes tens of seconds (up to the 300 s render timeout).
FIRST_TEXT_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
ANSWER_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0)
RENDER_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
RETRYING_SERVICES = ("groq", "did", "delivery")


class PrometheusMetrics:
    """The core's `Metrics` port, counting into its own `CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._messages = Counter(
            "avatarbot_messages", "Messages (turns) received.", ["platform"], registry=r
        )
        self._answers = Counter(
            "avatarbot_answers",
            "Turns ended, answered or failed.",
            ["platform", "outcome"],
            registry=r,
        )
        self._first_text = Histogram(
            "avatarbot_first_text_seconds",
            "From a turn's arrival to the first piece of its answer.",
            ["platform"],
            buckets=FIRST_TEXT_BUCKETS,
            registry=r,
        )
        self._answer_seconds = Histogram(
            "avatarbot_answer_seconds",
            "From a turn's arrival to its final answer (answered turns).",
            ["platform"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self._renders = Counter(
            "avatarbot_renders", "Avatar jobs reaching a state.", ["state"], registry=r
        )
        self._render_seconds = Histogram(
            "avatarbot_render_seconds",
            "From a video's submit to D-ID to its delivery (jobs submitted by this process).",
            buckets=RENDER_BUCKETS,
            registry=r,
        )
        self._retries = Counter(
            "avatarbot_retries",
            "Calls that failed in a way our client retries (the last failure of a call too).",
            ["service"],
            registry=r,
        )
        self._refusals = Counter(
            "avatarbot_quota_refusals",
            "Messages or videos refused by a limit.",
            ["limit"],
            registry=r,
        )
        # Fixed label values are exported at 0 from the start, so rates work from the first scrape.
        for state in ("submitted", "delivered", "failed"):
            self._renders.labels(state)
        for service in RETRYING_SERVICES:
            self._retries.labels(service)
        for limit in ("messages", "renders"):
            self._refusals.labels(limit)

    def message(self, platform: str) -> None:
        self._messages.labels(platform).inc()

    def first_text(self, platform: str, seconds: float) -> None:
        self._first_text.labels(platform).observe(seconds)

    def answer(self, platform: str, outcome: Outcome, seconds: float) -> None:
        self._answers.labels(platform, outcome).inc()
        if outcome == "answered":
            self._answer_seconds.labels(platform).observe(seconds)

    def render(self, state: RenderState, seconds: float | None = None) -> None:
        self._renders.labels(state).inc()
        if seconds is not None:
            self._render_seconds.observe(seconds)

    def retry(self, service: str) -> None:
        self._retries.labels(service).inc()

    def refusal(self, limit: Limit) -> None:
        self._refusals.labels(limit).inc()

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry in the format `accept` asks for (Prometheus text by default)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


# -- retries seen on the wire -----------------------------------------------------------------


def groq_retries(response: httpx.Response) -> bool:
    """What the groq SDK retries (`_should_retry`): 408, 409, 429 and 5xx, or as told."""
    hint: str | None = response.headers.get("x-should-retry")
    if hint in ("true", "false"):
        return hint == "true"
    return response.status_code in (408, 409, 429) or response.status_code >= 500


def did_retries(response: httpx.Response) -> bool:
    """What core/avatar/did.py retries: 429 and the gateway's 5xx answers."""
    return response.status_code in (429, 500, 502, 503, 504)


def telegram_retries(status: int) -> bool:
    """What the Telegram adapter retries: 429 (after its hint) and 5xx (PTB's NetworkError)."""
    return status == 429 or status >= 500


def status_counter(
    metrics: PrometheusMetrics, service: str, retried: Callable[[int], bool]
) -> Callable[[int], None]:
    """A callback for an HTTP client that reports each answer's status: counts the retried."""

    def count(status: int) -> None:
        if retried(status):
            metrics.retry(service)

    return count


ResponseHook = Callable[[httpx.Response], Awaitable[None]]


def retry_counter(
    metrics: PrometheusMetrics,
    service: str,
    base_url: str,
    retried: Callable[[httpx.Response], bool],
) -> dict[str, list[ResponseHook]]:
    """httpx event hooks counting the answers from `base_url` that its client retries.

    Counted at the HTTP client, which the wiring owns, so the clients stay unaware of metrics.
    Other hosts on the same client (D-ID's presigned video URLs) are not counted.
    """

    async def count(response: httpx.Response) -> None:
        if str(response.request.url).startswith(base_url) and retried(response):
            metrics.retry(service)

    return {"response": [count]}


# -- the endpoint -------------------------------------------------------------------------------


@asynccontextmanager
async def metrics_endpoint(
    metrics: PrometheusMetrics, host: str, port: int
) -> AsyncIterator[int | None]:
    """Serve `GET /metrics` on `host:port` until exit; yield the bound port.

    A port that cannot be bound is logged and yields None: the bot runs on without metrics
    (so `avatarbot check` beside a running bot does not fail on the bot's port).
    """

    async def scrape(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    bound: int | None = None
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        log.warning("metrics not served: METRICS_PORT %s on %s: %s", port, host, error)
    else:
        bound = runner.addresses[0][1]
        log.info("metrics at http://%s:%s/metrics", host, bound)
    try:
        yield bound
    finally:
        await runner.cleanup()
