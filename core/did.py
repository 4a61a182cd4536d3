"""D-ID talks API client on httpx: submit a talk, poll it, download the MP4."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from core.errors import ConfigurationError, OutOfCreditsError, ServiceError, UnavailableError

log = logging.getLogger(__name__)

_BUSY = "The avatar service is busy right now, so no video this time."
_FAILED = "The avatar video couldn't be made this time."


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to poll a render: sparsely while it cannot be done yet, densely near its expected end.

    Each `GET /talks/{id}` costs a request against D-ID's rate limit, and every second between
    the end of a render and the next poll is a second the user waits for the video. So the first
    poll comes after `first` seconds (an early refusal shows quickly), later waits double at most
    and close `approach` of the distance to the expected finish, never shorter than `interval`;
    past the expected finish a wait is `overdue` times the time overdue, so a slow render costs
    few polls. `expected` is the render time assumed until renders have been timed.
    """

    first: float = 4.0
    interval: float = 1.0
    timeout: float = 300.0
    expected: float = 40.0
    approach: float = 2 / 3
    overdue: float = 1 / 3

    def next_delay(self, elapsed: float, expected: float) -> float:
        """Seconds to wait before the next poll of a talk submitted `elapsed` seconds ago."""
        if elapsed < self.first:
            return self.first - elapsed
        remaining = expected - elapsed
        if remaining > 0:
            wait = min(remaining * self.approach, elapsed)
        else:
            wait = -remaining * self.overdue
        return max(wait, self.interval)


class RenderEstimate:
    """How long renders take lately: a weighted running mean of timed renders."""

    def __init__(self, initial: float, weight: float = 0.3) -> None:
        self.seconds = initial
        self._weight = weight

    def observe(self, seconds: float) -> None:
        """Fold in one render's duration, measured from its submit."""
        self.seconds += self._weight * (seconds - self.seconds)


class _Retryable(Exception):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["retry-after"]), 60.0)
    except (KeyError, ValueError):
        return None


def _describe(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    if isinstance(body, dict):
        kind = body.get("kind", "")
        return f"{response.status_code} {kind} {body.get('description') or body.get('message', '')}"
    return f"{response.status_code} {body!r}"[:300]


class DIDClient:
    """Renders talking-avatar videos through D-ID's `/talks` endpoints."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        source_url: str,
        voice_id: str,
        schedule: PollSchedule = PollSchedule(),
        attempts: int = 3,
        backoff: float = 1.0,
    ) -> None:
        # D-ID shows the key already in `user:password` form with the first half base64: sent as is.
        self._auth = {"Authorization": f"Basic {api_key}"}
        self._http, self._base = http, base_url.rstrip("/")
        self._source_url, self._voice_id = source_url, voice_id
        self._schedule, self._attempts, self._backoff = schedule, attempts, backoff
        self._estimate = RenderEstimate(schedule.expected)
        self._submitted: dict[str, float] = {}  # talk id -> monotonic time of its submit

    async def submit(self, text: str) -> str:
        """Create a talk that says `text` and return its id."""
        body = {
            "source_url": self._source_url,
            "script": {
                "type": "text",
                "input": text,
                "provider": {"type": "microsoft", "voice_id": self._voice_id},
            },
            "config": {"stitch": True},
        }
        response = await self._request("POST", "/talks", json=body)
        talk_id = response.json().get("id")
        if not isinstance(talk_id, str):
            raise ServiceError(_FAILED, detail=f"D-ID answered without a talk id: {response.text}")
        self._submitted[talk_id] = time.monotonic()
        return talk_id

    @property
    def expected_render_seconds(self) -> float:
        """The render time the poll schedule aims at, learned from recent renders."""
        return self._estimate.seconds

    async def wait(self, talk_id: str) -> str:
        """Poll the talk until it is done and return its `result_url`.

        A talk submitted by this client is timed from its submit, and its render time refines
        the estimate; a resumed talk (submitted before a restart) is timed from now.
        """
        submitted = self._submitted.pop(talk_id, None)
        start = time.monotonic() if submitted is None else submitted
        expected, timeout = self._estimate.seconds, self._schedule.timeout
        last_poll = start
        while (elapsed := time.monotonic() - start) < timeout:
            delay = self._schedule.next_delay(elapsed, expected)
            await asyncio.sleep(min(delay, timeout - elapsed))
            polled, last_poll = last_poll, time.monotonic()
            try:
                talk = (await self._request("GET", f"/talks/{talk_id}")).json()
            except ServiceError as exc:
                if isinstance(exc, ConfigurationError):
                    raise
                log.warning("poll of talk %s failed, polling on: %s", talk_id, exc.detail)
                continue
            status = talk.get("status")
            if status == "done" and talk.get("result_url"):
                if submitted is not None:
                    # It finished between the previous poll and this one: take the middle.
                    self._estimate.observe((polled + last_poll) / 2 - start)
                return str(talk["result_url"])
            if status in ("error", "rejected"):
                raise ServiceError(_FAILED, detail=f"talk {talk_id} {status}: {talk.get('error')}")
        raise ServiceError(_FAILED, detail=f"talk {talk_id} not done after {timeout}s")

    async def download(self, url: str) -> bytes:
        """Fetch the rendered MP4 at once: the presigned URL expires."""
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise ServiceError(_FAILED, detail=f"video download failed: {exc!r}") from exc
        if response.status_code != 200:
            raise ServiceError(_FAILED, detail=f"video download: {_describe(response)}")
        return response.content

    async def credits(self) -> int:
        """Return the remaining credits (used by `avatarbot check`)."""
        body = (await self._request("GET", "/credits")).json()
        return int(body.get("remaining", 0))

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(method, path, **kwargs)
        except _Retryable as exc:
            raise UnavailableError(_BUSY, detail=f"D-ID {method} {path}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff * 2 ** (state.attempt_number - 1))

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(
                method, self._base + path, headers=self._auth, **kwargs
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retryable(repr(exc)) from exc
        if response.status_code in (429, 500, 502, 503, 504):
            raise _Retryable(_describe(response), _retry_after(response))
        if response.status_code >= 400:
            raise _refusal(method, path, response)
        return response


def _refusal(method: str, path: str, response: httpx.Response) -> ServiceError:
    detail = f"D-ID {method} {path}: {_describe(response)}"
    status = response.status_code
    if status in (401, 403):
        return ConfigurationError(_FAILED, detail=f"D-ID refused DID_API_KEY: {detail}")
    if status == 402:
        return OutOfCreditsError("The avatar service is out of credits, so no video for now.")
    if status == 451:
        return ServiceError("The avatar service declined to say this answer.", detail=detail)
    return ServiceError(_FAILED, detail=detail)
