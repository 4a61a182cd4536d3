"""D-ID client on httpx: upload a face, submit a talk, wait for it (webhook or polls), fetch it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from core.avatar.did_errors import (
    FAILED,
    UNCONFIRMED_STATUSES,
    Retryable,
    describe,
    json_object,
    refusal,
    retry_after,
)
from core.avatar.did_polling import PollSchedule, RenderEstimate, created, outcome
from core.avatar.expressions import driver_expressions
from core.avatar.video import MAX_VIDEO_BYTES, fetch_video
from core.avatar.webhook import DIDWebhook, Waiter
from core.errors import ConfigurationError, ServiceError, UnavailableError, UnconfirmedError
from core.i18n import Line

log = logging.getLogger(__name__)

_BUSY = Line("The avatar service is busy right now, so no video this time.")
# Faults before the request left: D-ID cannot have seen it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


@dataclass(frozen=True, slots=True)
class _Submitted:
    at: float  # monotonic time of the submit
    nonce: str | None  # the talk's webhook nonce, when it was sent with one


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
        webhook: DIDWebhook | None = None,
        max_video_bytes: int = MAX_VIDEO_BYTES,
        expressions: bool = False,
    ) -> None:
        # D-ID shows the key already in `user:password` form with the first half base64: sent as is.
        self._auth = {"Authorization": f"Basic {api_key}"}
        self._http, self._base = http, base_url.rstrip("/")
        self._source_url, self._voice_id = source_url, voice_id
        self._schedule, self._attempts, self._backoff = schedule, attempts, backoff
        self._webhook, self._max_video = webhook, max_video_bytes
        self._estimate = RenderEstimate(schedule.expected)
        self._submitted: dict[str, _Submitted] = {}
        self._expressions = expressions  # AVATAR_EXPRESSIONS: the face follows the script's tone

    async def upload_image(self, image: bytes, mime: str, filename: str) -> str:
        """`POST /images`: store a face photo at D-ID (for 24-48 h) and return its URL.

        Multipart with the photo in field `image`; `filename` at most 50 of `a-zA-Z0-9._-`;
        201 `{"id": "img_…", "url": "s3://d-id-images-prod/…"}`. Refusals (400, 415, 451)
        raise `ImageRefusedError` with one line (https://docs.d-id.com/reference/upload-an-image).
        """
        files = {"image": (filename, image, mime)}
        response = await self._request("POST", "/images", files=files)
        url = json_object(response).get("url")
        if not isinstance(url, str) or not url:
            detail = f"D-ID answered an upload with no url: {response.text}"
            raise ServiceError(FAILED, detail=detail)
        return url

    async def submit(
        self, text: str, voice_id: str | None = None, source_url: str | None = None
    ) -> str:
        """Create a talk that says `text`; return its id.

        `voice_id` speaks it (default: DID_VOICE_ID), the face at `source_url` shows it
        (default: DID_SOURCE_URL).
        """
        voice = voice_id or self._voice_id
        body: dict[str, Any] = {
            "source_url": source_url or self._source_url,
            "script": {
                "type": "text",
                "input": text,
                "provider": {"type": "microsoft", "voice_id": voice},
            },
            "config": {"stitch": True},
        }
        if self._expressions and (driver := driver_expressions(text)) is not None:
            body["config"]["driver_expressions"] = driver
        nonce = None
        if self._webhook is not None and self._webhook.listening:
            nonce = self._webhook.new_nonce()
            body |= {"webhook": self._webhook.url_for(nonce), "user_data": nonce}
        # D-ID bills every talk it makes and takes no idempotency key: a request it may have
        # carried out is not sent again (`UnconfirmedError`).
        response = await self._request("POST", "/talks", json=body, once=True)
        talk_id = json_object(response).get("id")
        if not isinstance(talk_id, str):
            raise ServiceError(FAILED, detail=f"D-ID answered without a talk id: {response.text}")
        self._submitted[talk_id] = _Submitted(time.monotonic(), nonce)
        return talk_id

    @property
    def expected_render_seconds(self) -> float:
        """The render time the poll schedule aims at, learned from recent renders."""
        return self._estimate.seconds

    async def wait(self, talk_id: str) -> str:
        """Wait until the talk is done and return its `result_url`.

        Its callback wakes the wait at once when a webhook is served; polls follow the schedule
        otherwise, or sparsely in case a callback is lost. A talk submitted by this client is
        timed from its submit and refines the estimate; a resumed one (submitted before a
        restart) is polled at once, then timed from its `created_at`.
        """
        submitted = self._submitted.pop(talk_id, None)
        webhook = self._webhook if self._webhook is not None and self._webhook.listening else None
        nonce = submitted.nonce if submitted is not None else None
        # A resumed talk is expected before its first poll, so a callback in between counts.
        expect = webhook is not None and (submitted is None or nonce is not None)
        waiter = webhook.expect(talk_id, nonce) if webhook is not None and expect else None
        try:
            if submitted is not None:
                return await self._follow(talk_id, submitted.at, submitted.at, waiter, timed=True)
            talk = await self._poll(talk_id)
            if talk is not None and (url := outcome(talk_id, talk)) is not None:
                return url
            nonce = talk.get("user_data") if talk is not None else None
            if webhook is not None and waiter is not None:
                if isinstance(nonce, str):
                    waiter.nonce = nonce  # its callback must carry the talk's own nonce
                else:  # sent without a webhook (or unknown): poll on the schedule
                    webhook.forget(talk_id, waiter)
                    waiter = None
            return await self._follow(talk_id, created(talk), time.monotonic(), waiter, timed=False)
        finally:
            if webhook is not None and waiter is not None:
                webhook.forget(talk_id, waiter)

    async def _follow(
        self, talk_id: str, start: float, last_poll: float, waiter: Waiter | None, *, timed: bool
    ) -> str:
        """Wait for the talk's callback or poll it until it ends, `timeout` after `start`."""
        expected, timeout = self._estimate.seconds, self._schedule.timeout
        while (elapsed := time.monotonic() - start) < timeout:
            if waiter is None:
                delay = self._schedule.next_delay(elapsed, expected)
            else:
                delay = max(self._schedule.fallback - (time.monotonic() - last_poll), 0.0)
            delay = min(delay, timeout - elapsed)
            talk = None if waiter is None else await waiter.next(delay)
            if talk is None:
                if waiter is None:
                    await asyncio.sleep(delay)
                polled, last_poll = last_poll, time.monotonic()
                talk = await self._poll(talk_id)
                # A render seen done by a poll ended between this poll and the previous one.
                ended = (polled + last_poll) / 2
            else:
                ended = time.monotonic()
            if talk is not None and (url := outcome(talk_id, talk)) is not None:
                if timed:
                    self._estimate.observe(ended - start)
                return url
        raise ServiceError(FAILED, detail=f"talk {talk_id} not done after {timeout}s")

    async def _poll(self, talk_id: str) -> dict[str, Any] | None:
        """`GET /talks/{id}`, or None when it failed (the wait goes on)."""
        try:
            return json_object(await self._request("GET", f"/talks/{talk_id}"))
        except ServiceError as exc:
            if isinstance(exc, ConfigurationError):
                raise
            log.warning("poll of talk %s failed, polling on: %s", talk_id, exc.detail)
            return None

    async def download(self, url: str) -> bytes:
        """Fetch the rendered MP4 at once (the presigned URL expires), from D-ID's hosts only."""
        return await fetch_video(self._http, url, base_url=self._base, max_bytes=self._max_video)

    async def credits(self) -> int:
        """Return the remaining credits (used by `avatarbot check`)."""
        body = (await self._request("GET", "/credits")).json()
        return int(body.get("remaining", 0))

    async def _request(
        self, method: str, path: str, *, once: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; `once`: not again after a fault D-ID may have carried out."""

        def again(exc: BaseException) -> bool:
            return isinstance(exc, Retryable) and not (once and exc.unconfirmed)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(again),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(method, path, **kwargs)
        except Retryable as exc:
            detail = f"D-ID {method} {path}: {exc}"
            if once and exc.unconfirmed:
                raise UnconfirmedError(_BUSY, detail=f"{detail} (D-ID may have taken it)") from exc
            raise UnavailableError(_BUSY, detail=detail) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff * 2 ** (state.attempt_number - 1))

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(
                method, self._base + path, headers=self._auth, **kwargs
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise Retryable(repr(exc), unconfirmed=not isinstance(exc, _NOT_SENT)) from exc
        status = response.status_code
        if status in (429, 500, 502, 503, 504):
            unconfirmed = status in UNCONFIRMED_STATUSES
            raise Retryable(describe(response), retry_after(response), unconfirmed=unconfirmed)
        if response.status_code >= 400:
            raise refusal(method, path, response)
        return response
