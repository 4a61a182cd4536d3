"""A local D-ID API server for tests: the talks lifecycle, credits and the rendered MP4.

`FakeDID` speaks D-ID's REST wire format on 127.0.0.1 (real base: https://api.d-id.com):
`POST /images`, `POST /talks`, `GET /talks/{id}`, `DELETE /talks/{id}`, `GET /credits`, plus
`GET /results/{id}.mp4`, which stands in for the presigned S3 URL a finished talk points to.
Tests script outcomes (`next_outcome`), control render timing (`render_seconds`,
`hold_renders` + `finish`), inject faults (`fail_next`, `delay_next`), point result URLs
elsewhere (`next_result_url`) or make them huge (`oversized_result`), and read what was sent
(`requests`, `calls`, `talks`, `webhooks`). A talk created with a `webhook` gets its final talk
object POSTed there as JSON when its render ends, once, as D-ID does (no documented retries).

Uploaded photos (`images`) are judged as D-ID documents: JPEG/PNG only (415), at most 10 MB and
at least `min_image_side` pixels a side (400), kept until `expire_images()`; a talk whose
`source_url` is an upload that is gone fails with `SourceError`, one from a photo marked as
faceless (tests/fakes/images.py) with `FaceError`, both asynchronously as D-ID reports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.fakes.images import NO_FACE, image_size
from tests.fakes.server import LocalServer

AVATAR_MP4 = Path(__file__).resolve().parent.parent / "data" / "avatar.mp4"
DEFAULT_API_KEY = "dGVzdEBleGFtcGxlLmNvbQ:fake-did-secret"
ENDPOINTS = frozenset(
    {"POST /images", "POST /talks", "GET /talks", "DELETE /talks", "GET /results", "GET /credits"}
)
# `POST /images` (https://docs.d-id.com/reference/upload-an-image, generated from D-ID's OpenAPI):
# multipart field `image`, "Supported mime types: image/jpeg,image/png", an optional filename of
# up to 50 of a-z A-Z 0-9 . _ -, "Storage duration: 24-48H"; 400 BadRequestError |
# InvalidFileSizeError | InvalidImageResolutionError, 415 UnsupportedMimeTypeError, 451
# ImageModerationError | CelebrityRecognizedError. "The image size is limited to 10 MB"
# (https://www.d-id.com/faqs/). D-ID publishes no minimum resolution; one integration measured
# 160×160, the fake's default.
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MIMES = ("image/jpeg", "image/png")
IMAGE_FILENAME = re.compile(r"[A-Za-z0-9._-]{1,50}")
IMAGES_BUCKET = "s3://d-id-images-prod/"
# Talks' asynchronous errors (https://docs.d-id.com/reference/asynchronous-errors).
SOURCE_ERROR = ("SourceError", "Could not load source image or invalid format")
FACE_ERROR = ("FaceError", "No valid face detected")
# D-ID caps user_data, which it echoes back in the talk and in the webhook, at 1000 characters.
USER_DATA_MAX = 1000
# Billing as D-ID bills: each video is rounded up to the next 15 seconds, a credit for each
# (https://www.d-id.com/pricing/studio, FAQ), and a talk that fails (error, rejected) costs
# nothing. Credits are held when a talk is created and given back if it fails.
BILLED_SECONDS = 15
# How fast the text-to-speech voices speak, about 150 words a minute: a text talk's duration.
WORDS_PER_SECOND = 2.5
SOURCE_SCHEMES = ("http://", "https://", "s3://")
# The expressions a talk's driver can show (docs.d-id.com/reference/facial-expressions).
EXPRESSIONS = ("neutral", "happy", "serious", "surprise")
DEFAULT_CONFIG: dict[str, Any] = {
    "stitch": False,
    "pad_audio": 0.0,
    "fluent": False,
    "align_driver": True,
    "result_format": ".mp4",
}
OutcomeStatus = Literal["done", "error", "rejected"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake received; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any | None
    form: dict[str, str] | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a talk ends: `done`, or `error` with D-ID's error kind, or `rejected`."""

    status: OutcomeStatus = "done"
    kind: str = "UnknownError"
    description: str = "Internal error"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One POST of a final talk to its webhook; `status` is None when the POST failed."""

    url: str
    payload: dict[str, Any]
    status: int | None
    error: str | None = None


@dataclass(slots=True, eq=False)
class FakeImage:
    """A photo uploaded with `POST /images`: its id, bytes, type and whether it shows a face."""

    id: str
    url: str
    data: bytes
    mime: str
    face: bool
    expired: bool = False


@dataclass(slots=True, eq=False)
class FakeTalk:
    """A created talk: its request JSON, scripted outcome, timing and counters."""

    id: str
    request: dict[str, Any]
    outcome: Outcome
    created_at: datetime
    created_mono: float
    render_seconds: float
    held: bool
    finished: bool = False
    deleted: bool = False
    duration: float = 1.0  # seconds of video, from the script
    cost: int = 1  # credits, held from its creation unless it fails
    polls: int = 0  # GET /talks/{id} requests received, faulted ones included
    downloads: int = 0  # GET /results/{id}.mp4 requests received, faulted ones included
    result_url: str | None = None  # set by next_result_url(); else the fake's own /results URL
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    processed: bool = False


def talk_credits(duration: float) -> int:
    """What a finished talk of `duration` seconds costs: a credit per started 15 seconds."""
    return max(1, math.ceil(duration / BILLED_SECONDS))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _did_error(status: int, kind: str, description: str) -> web.Response:
    return web.json_response({"kind": kind, "description": description}, status=status)


def _s3_error(status: int, code: str, message: str, **extra: str) -> web.Response:
    fields = "".join(f"<{name}>{value}</{name}>" for name, value in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{fields}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def _default_fault_body(endpoint: str, status: int) -> Any:
    """The real error shapes: D-ID `{kind, description}`, gateway `{message}`, S3 XML."""
    if endpoint == "GET /results":
        codes = {403: ("AccessDenied", "Access Denied"), 503: ("SlowDown", "Reduce your rate")}
        code, message = codes.get(status, ("InternalError", "We encountered an internal error."))
        return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    if status in (403, 502, 503, 504):
        gateway = {403: "Forbidden", 504: "Endpoint request timed out"}
        return {"message": gateway.get(status, "Service Unavailable")}
    kinds = {
        400: ("BadRequestError", "bad request"),
        401: ("AuthorizationError", "user unauthenticated"),
        402: ("InsufficientCreditsError", "not enough credits"),
        404: ("NotFoundError", "talk not found"),
        429: ("TooManyRequestsError", "Too Many Requests"),
        451: ("ModerationError", "the content was flagged by moderation"),
    }
    kind, description = kinds.get(status, ("InternalServerError", "Internal Server Error"))
    return {"kind": kind, "description": description}


def _is_url(value: Any, schemes: tuple[str, ...] = SOURCE_SCHEMES) -> bool:
    return isinstance(value, str) and value.startswith(schemes)


def _validate_script(script: Any) -> str | None:
    if not isinstance(script, dict):
        return "script is required and must be an object"
    if script.get("type") == "text":
        text = script.get("input")
        if not isinstance(text, str) or not text.strip():
            return "script.input is required for a text script"
        provider = script.get("provider")
        if provider is not None and (
            not isinstance(provider, dict)
            or not isinstance(provider.get("type"), str)
            or not isinstance(provider.get("voice_id", ""), str)
        ):
            return "script.provider must be {type, voice_id}"
        return None
    if script.get("type") == "audio":
        if not _is_url(script.get("audio_url")):
            return "script.audio_url is required for an audio script"
        return None
    return 'script.type must be "text" or "audio"'


def _validate_expressions(driver: Any) -> str | None:
    """`config.driver_expressions` as docs.d-id.com/reference/facial-expressions defines it:
    `expressions`, a list of {start_frame ≥ 0, expression, intensity 0..1}, and an optional
    `transition_frames` ≥ 0."""
    if driver is None:
        return None
    if not isinstance(driver, dict) or not isinstance(driver.get("expressions"), list):
        return "config.driver_expressions.expressions must be an array"
    transition = driver.get("transition_frames", 0)
    if not isinstance(transition, int) or isinstance(transition, bool) or transition < 0:
        return "config.driver_expressions.transition_frames must be a non-negative integer"
    for index, item in enumerate(driver["expressions"]):
        where = f"config.driver_expressions.expressions[{index}]"
        if not isinstance(item, dict):
            return f"{where} must be an object"
        if item.get("expression") not in EXPRESSIONS:
            return f"{where}.expression must be one of {', '.join(EXPRESSIONS)}"
        frame, intensity = item.get("start_frame"), item.get("intensity", 1)
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            return f"{where}.start_frame must be a non-negative integer"
        if not isinstance(intensity, int | float) or not 0 <= intensity <= 1:
            return f"{where}.intensity must be a number between 0 and 1"
    return None


def _validate_talk(body: Any) -> str | None:
    """Return a description of what is wrong with a `POST /talks` body, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not _is_url(body.get("source_url")):
        return "source_url is required and must be a URL"
    if problem := _validate_script(body.get("script")):
        return problem
    user_data = body.get("user_data")
    if user_data is not None and (
        not isinstance(user_data, str) or not 1 <= len(user_data) <= USER_DATA_MAX
    ):
        return f"user_data must be a string of 1 to {USER_DATA_MAX} characters"
    if "webhook" in body and not _is_url(body["webhook"], ("http://", "https://")):
        return "webhook must be a URL"
    if not isinstance(body.get("config", {}), dict):
        return "config must be an object"
    if problem := _validate_expressions(body.get("config", {}).get("driver_expressions")):
        return problem
    if not isinstance(body.get("name", ""), str):
        return "name must be a string"
    return None


class FakeDID(LocalServer):
    """D-ID on 127.0.0.1: `async with FakeDID() as fake:` then point the client at `base_url`."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        render_seconds: float = 0.05,
        credits_remaining: int = 100,
        credits_total: int = 100,
    ) -> None:
        self.api_key = api_key
        self.render_seconds = render_seconds  # applies to talks created afterwards
        self.hold_renders = False  # new talks stay "started" until finish()/release_all()
        self.expire_results = False  # result URLs answer 403 "Request has expired"
        self._credits = credits_remaining  # the balance before any talk's cost
        self.credits_total = credits_total
        self.user_id = "google-oauth2|100000000000000000001"
        # Seconds of video for an audio script (the fake does not decode the audio).
        self.video_duration = 1.0
        self.video = AVATAR_MP4.read_bytes()
        # With a size, result downloads stream that many bytes (chunked unless sized=True).
        self.oversized_result: int | None = None
        self.oversized_sized = False
        self.result_bytes_sent = 0  # body bytes written for oversized results, all told
        self.oversized_served = 0  # oversized results whose handler has ended
        self.talks: dict[str, FakeTalk] = {}
        self.images: dict[str, FakeImage] = {}  # by url
        self.min_image_side = 160
        self.keep_images = True  # False: each upload is lost at once (as if 48 h had passed)
        self.requests: list[Recorded] = []
        self.webhooks: list[WebhookDelivery] = []
        self._outcomes: deque[Outcome] = deque()
        self._result_urls: deque[str] = deque()
        self._faults: dict[str, deque[_Fault]] = {name: deque() for name in ENDPOINTS}
        self._delays: dict[str, deque[float]] = {name: deque() for name in ENDPOINTS}
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        # Room for a photo over D-ID's limit, so the fake answers it as D-ID does (400).
        app = web.Application(middlewares=[self._middleware], client_max_size=2 * IMAGE_MAX_BYTES)
        app.router.add_post("/images", self._upload_image)
        app.router.add_post("/talks", self._create_talk)
        app.router.add_get("/talks/{talk_id}", self._get_talk)
        app.router.add_delete("/talks/{talk_id}", self._delete_talk)
        app.router.add_get("/credits", self._get_credits)
        app.router.add_get("/results/{talk_id}.mp4", self._get_result)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def close(self) -> None:
        self._closing.set()  # wakes handlers held by delay_next()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def result_url(self, talk_id: str) -> str:
        return f"{self.base_url}/results/{talk_id}.mp4"

    # -- test controls -----------------------------------------------------------------------

    def next_outcome(
        self,
        status: OutcomeStatus,
        *,
        kind: str = "UnknownError",
        description: str = "Internal error",
        times: int = 1,
    ) -> None:
        """Make the next `times` created talks end with `status` (FIFO after earlier calls)."""
        self._outcomes.extend([Outcome(status, kind, description)] * times)

    def next_result_url(self, url: str, *, times: int = 1) -> None:
        """Make the next `times` created talks report `url` as their `result_url` when done."""
        self._result_urls.extend([url] * times)

    def finish(self, talk_id: str) -> None:
        """End a talk's render now (held or not); its scripted outcome shows on the next GET."""
        talk = self.talks[talk_id]
        talk.held = False
        talk.finished = True
        talk.released.set()
        self._notify()

    def expire_images(self) -> None:
        """D-ID deletes uploads 24-48 h after they were made: every upload so far is gone now."""
        for image in self.images.values():
            image.expired = True

    def release_all(self) -> None:
        """Finish every talk still held by `hold_renders`."""
        for talk in self.talks.values():
            if talk.held:
                self.finish(talk.id)

    def fail_next(
        self,
        endpoint: str,
        status: int,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        processed: bool = False,
    ) -> None:
        """Answer the next `times` requests to `endpoint` (e.g. "GET /talks") with an error.

        `body` None means the service's real error shape for `status`; a dict is sent as JSON,
        a string as text. A 429 gets `retry-after: 0` unless `headers` says otherwise.
        `processed`: the request takes effect all the same, as behind D-ID's API gateway, whose
        504 "Endpoint request timed out" comes while the service goes on with the request
        (docs.d-id.com/discuss/659e4aa1a2d5c1004e231a56: a 504 on `POST /talks`).
        """
        self._check_endpoint(endpoint)
        if body is None:
            body = _default_fault_body(endpoint, status)
        merged = {"retry-after": "0"} if status == 429 else {}
        merged.update(headers or {})
        self._faults[endpoint].append(_Fault(status, body, merged, times, processed))

    def delay_next(self, endpoint: str, seconds: float) -> None:
        """Hold the next request to `endpoint` for `seconds` (or until close()), then answer it."""
        self._check_endpoint(endpoint)
        self._delays[endpoint].append(seconds)

    def calls(self, path_suffix: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path ends with `path_suffix` (and method, if given)."""
        return [
            r
            for r in self.requests
            if r.path.endswith(path_suffix) and (method is None or r.method == method)
        ]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until `predicate()` holds; re-checked on each request, new talk, finish, webhook."""
        async with asyncio.timeout(timeout):
            while not predicate():
                changed = self._changed
                await changed.wait()

    @property
    def credits_used(self) -> int:
        """Credits the talks cost: every talk's, held while it renders, except failed ones."""
        failed = ("error", "rejected")
        return sum(t.cost for t in self.talks.values() if self.status_of(t) not in failed)

    @property
    def credits_remaining(self) -> int:
        """The balance `GET /credits` reports."""
        return self._credits - self.credits_used

    @credits_remaining.setter
    def credits_remaining(self, value: int) -> None:
        self._credits = value + self.credits_used

    def duration_of(self, script: dict[str, Any]) -> float:
        """The seconds of video a script makes: its words at the voice's pace (audio: fixed)."""
        if script["type"] != "text":
            return self.video_duration
        return round(len(script["input"].split()) / WORDS_PER_SECOND, 3)

    def status_of(self, talk: FakeTalk) -> str:
        """The talk's status right now: created → started → done/error/rejected."""
        elapsed = time.monotonic() - talk.created_mono
        if talk.finished or (not talk.held and elapsed >= talk.render_seconds):
            return talk.outcome.status
        if talk.held or elapsed >= talk.render_seconds / 2:
            return "started"
        return "created"

    def talk_json(self, talk: FakeTalk) -> dict[str, Any]:
        """The talk as `GET /talks/{id}` returns it."""
        status = self.status_of(talk)
        request = talk.request
        script = request["script"]
        data: dict[str, Any] = {
            "id": talk.id,
            "user_id": self.user_id,
            "created_by": self.user_id,
            "created_at": _iso(talk.created_at),
            "modified_at": _iso(datetime.now(UTC)),
            "status": status,
            "source_url": request["source_url"],
            "driver_url": "bank://lively/",
            "config": {**DEFAULT_CONFIG, **request.get("config", {})},
        }
        if "user_data" in request:
            data["user_data"] = request["user_data"]
        if status in ("created", "rejected"):
            return data
        started = talk.created_at + timedelta(seconds=talk.render_seconds / 2)
        data["started_at"] = _iso(started)
        data["audio_url"] = (
            script["audio_url"]
            if script["type"] == "audio"
            else f"{self.base_url}/talks-audio/{talk.id}/microsoft.wav"
        )
        data["duration"] = talk.duration
        if status == "started":
            data["pending_url"] = f"s3://d-id-talks-prod/{self.user_id}/{talk.id}/pending.mp4"
        elif status == "done":
            data["result_url"] = talk.result_url or self.result_url(talk.id)
        else:
            data["error"] = {"kind": talk.outcome.kind, "description": talk.outcome.description}
        return data

    # -- plumbing ----------------------------------------------------------------------------

    def _check_endpoint(self, endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _record(self, request: web.Request) -> None:
        body = await request.read()
        parsed: Any | None = None
        if body and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                parsed = await request.json()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                query=dict(request.query),
                json=parsed,
                form=None,
                body=body,
            )
        )
        self._notify()

    def _count(self, request: web.Request) -> None:
        talk = self.talks.get(request.match_info.get("talk_id", ""))
        if talk is None or request.method != "GET":
            return
        if request.path.startswith("/results/"):
            talk.downloads += 1
        else:
            talk.polls += 1

    @staticmethod
    def _fault_response(fault: _Fault) -> web.Response:
        if not isinstance(fault.body, str):
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        headers = dict(fault.headers)
        if not any(name.lower() == "content-type" for name in headers):
            xml = fault.body.startswith("<")
            headers["Content-Type"] = "application/xml" if xml else "text/plain"
        return web.Response(status=fault.status, text=fault.body, headers=headers)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self._record(request)
        self._count(request)
        endpoint = f"{request.method} /{request.path.split('/')[1]}"
        if delays := self._delays.get(endpoint):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delays.popleft())
        if faults := self._faults.get(endpoint):
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.popleft()
            if fault.processed and self._authorized(request, endpoint):
                await handler(request)
            return self._fault_response(fault)
        # The result URL is a presigned S3 URL: it carries its own auth, not the D-ID key.
        if not self._authorized(request, endpoint):
            return _did_error(401, "AuthorizationError", "user unauthenticated")
        return await handler(request)

    def _authorized(self, request: web.Request, endpoint: str) -> bool:
        return endpoint == "GET /results" or (
            request.headers.get("Authorization") == f"Basic {self.api_key}"
        )

    # -- endpoints ---------------------------------------------------------------------------

    async def _create_talk(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _did_error(400, "BadRequestError", "request body must be valid JSON")
        if problem := _validate_talk(body):
            return _did_error(400, "BadRequestError", problem)
        duration = self.duration_of(body["script"])
        if talk_credits(duration) > self.credits_remaining:
            return _did_error(402, "InsufficientCreditsError", "not enough credits")
        talk = FakeTalk(
            id="tlk_" + secrets.token_urlsafe(16)[:21],
            request=body,
            outcome=self._source_outcome(body["source_url"]) or self._next_outcome(),
            created_at=datetime.now(UTC),
            created_mono=time.monotonic(),
            render_seconds=self.render_seconds,
            held=self.hold_renders,
            duration=duration,
            cost=talk_credits(duration),
            result_url=self._result_urls.popleft() if self._result_urls else None,
        )
        self.talks[talk.id] = talk
        self._notify()
        if "webhook" in body:
            task = asyncio.create_task(self._deliver_webhook(talk), name=f"did-webhook-{talk.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        created = {
            "id": talk.id,
            "object": "talk",
            "created_at": _iso(talk.created_at),
            "created_by": self.user_id,
            "status": "created",
        }
        return web.json_response(created, status=201)

    def _next_outcome(self) -> Outcome:
        return self._outcomes.popleft() if self._outcomes else Outcome()

    def _source_outcome(self, source_url: str) -> Outcome | None:
        """How a talk from an uploaded photo fails: the upload is gone, or it shows no face."""
        if not source_url.startswith(IMAGES_BUCKET):
            return None
        image = self.images.get(source_url)
        if image is None or image.expired:
            return Outcome("error", *SOURCE_ERROR)
        return None if image.face else Outcome("error", *FACE_ERROR)

    async def _upload_image(self, request: web.Request) -> web.Response:
        part = _image_part(request.headers.get("Content-Type", ""), await request.read())
        if part is None:
            return _did_error(400, "BadRequestError", "image is required (multipart field)")
        filename, mime, data = part
        if filename is not None and not IMAGE_FILENAME.fullmatch(filename):
            return _did_error(400, "BadRequestError", "filename: up to 50 of a-z A-Z 0-9 . _ -")
        if mime not in IMAGE_MIMES:
            return _did_error(415, "UnsupportedMimeTypeError", f"unsupported mime type {mime}")
        if len(data) > IMAGE_MAX_BYTES:
            return _did_error(400, "InvalidFileSizeError", "image size is limited to 10MB")
        size = image_size(data)
        if size is None:
            return _did_error(400, "BadRequestError", "could not read the image")
        if min(size) < self.min_image_side:
            return _did_error(400, "InvalidImageResolutionError", f"image resolution {size}")
        image_id = "img_" + secrets.token_urlsafe(16)[:21]
        url = f"{IMAGES_BUCKET}{self.user_id}/{image_id}/{filename or 'image'}"
        self.images[url] = FakeImage(
            image_id, url, data, mime, face=NO_FACE not in data, expired=not self.keep_images
        )
        self._notify()
        return web.json_response({"id": image_id, "url": url}, status=201)

    def _live_talk(self, request: web.Request) -> FakeTalk | None:
        talk = self.talks.get(request.match_info["talk_id"])
        return None if talk is None or talk.deleted else talk

    async def _get_talk(self, request: web.Request) -> web.Response:
        if (talk := self._live_talk(request)) is None:
            return _did_error(404, "NotFoundError", "talk not found")
        return web.json_response(self.talk_json(talk))

    async def _delete_talk(self, request: web.Request) -> web.Response:
        if (talk := self._live_talk(request)) is None:
            return _did_error(404, "NotFoundError", "talk not found")
        talk.deleted = True
        return web.json_response({"deleted": 1})

    async def _get_credits(self, request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        credit = {
            "owner_id": self.user_id,
            "product_id": "prod_fake_did_trial",
            "remaining": self.credits_remaining,
            "total": self.credits_total,
            "created_at": _iso(now - timedelta(days=1)),
            "valid_from": _iso(now - timedelta(days=1)),
            "expire_at": _iso(now + timedelta(days=13)),
        }
        return web.json_response(
            {"credits": [credit], "remaining": self.credits_remaining, "total": self.credits_total}
        )

    async def _get_result(self, request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            # S3 refuses a presigned URL that also carries an Authorization header.
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
            )
        if self.expire_results:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return _s3_error(403, "AccessDenied", "Request has expired", ServerTime=now)
        talk = self._live_talk(request)
        if talk is None or self.status_of(talk) != "done":
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if self.oversized_result is not None:
            return await self._stream_result(request, self.oversized_result)
        return web.Response(body=self.video, content_type="video/mp4")

    async def _stream_result(self, request: web.Request, size: int) -> web.StreamResponse:
        """A body of `size` bytes (the MP4's, then zeros) written 64 KiB at a time."""
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if self.oversized_sized:
            response.content_length = size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = (self.video + bytes(64 * 1024))[: 64 * 1024]
        sent = 0
        try:
            while sent < size:
                part = chunk[: size - sent]
                await response.write(part)
                sent += len(part)
                self.result_bytes_sent += len(part)
            await response.write_eof()
        except ConnectionError:  # the client stopped reading and closed the connection
            pass
        finally:
            self.oversized_served += 1
            self._notify()
        return response

    async def _deliver_webhook(self, talk: FakeTalk) -> None:
        if talk.held:
            await talk.released.wait()
        else:
            remaining = talk.created_mono + talk.render_seconds - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(remaining)  # simulated render time, not a test wait
        url = talk.request["webhook"]
        payload = self.talk_json(talk)
        assert self._session is not None
        try:
            async with self._session.post(url, json=payload) as response:
                delivery = WebhookDelivery(url, payload, response.status)
        except Exception as error:  # a refused or non-loopback URL must not kill the fake
            delivery = WebhookDelivery(url, payload, None, repr(error))
        self.webhooks.append(delivery)
        self._notify()


def _image_part(content_type: str, body: bytes) -> tuple[str | None, str, bytes] | None:
    """The `image` part of a multipart/form-data body: its filename, type and bytes."""
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "image":
            data = part.get_payload(decode=True)
            return part.get_filename(), part.get_content_type(), bytes(data or b"")
    return None
