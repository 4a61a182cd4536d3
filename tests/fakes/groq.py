"""A local fake of the Groq API: chat completions (JSON and SSE), Whisper, text to speech, models.

The real `groq` SDK and langchain-groq's `ChatGroq` talk to it unchanged through
`base_url=fake.base_url`, the host root (the SDK appends `/openai/v1/...` itself). It answers with
Groq's wire shapes, error bodies and rate-limit headers, records every request, and can inject
faults (error statuses, slow requests, an error in the middle of a stream, held answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from tests.fakes import groq_speech
from tests.fakes.groq_vision import VISION_MODELS, vision_error
from tests.fakes.server import LocalServer

API = "/openai/v1"
ENDPOINTS = ("chat/completions", "audio/transcriptions", "audio/speech", "models")
Reply = str | Callable[[list[dict[str, Any]]], str]

DEFAULT_MODELS = [
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "qwen/qwen3.6-27b",
    "whisper-large-v3-turbo",
    "whisper-large-v3",
    *groq_speech.VOICES,
]
# Retired by Groq; requests for them get 400 `model_decommissioned`.
DEFAULT_DECOMMISSIONED = {
    "llama3-8b-8192",
    "llama3-70b-8192",
    "mixtral-8x7b-32768",
    "gemma2-9b-it",
    "distil-whisper-large-v3-en",
    "llama-3.1-8b-instant",
    "llama-3.3-70b-versatile",
}
# gpt-oss speaks OpenAI's Harmony format, which only knows these efforts.
GPT_OSS_EFFORTS = {"low", "medium", "high"}
# Groq rejects unknown properties on a message (e.g. `reasoning_content`) with a 400.
MESSAGE_KEYS = set("role content name tool_calls tool_call_id function_call reasoning".split())
BAD_MEDIA = "could not process file - is it a valid media file?"
# The codes Whisper's `language` accepts (the groq SDK's list; Groq's 400 for any other code
# lists the same ones), with the name verbose_json gives the language: Groq answers "English"
# (vercel/ai records it in packages/groq/src/__fixtures__), OpenAI answers "english".
WHISPER_LANGUAGES: dict[str, str] = dict(
    pair.split("=")
    for pair in (
        "en=English,zh=Chinese,de=German,es=Spanish,ru=Russian,ko=Korean,fr=French,ja=Japanese,"
        "pt=Portuguese,tr=Turkish,pl=Polish,ca=Catalan,nl=Dutch,ar=Arabic,sv=Swedish,it=Italian,"
        "id=Indonesian,hi=Hindi,fi=Finnish,vi=Vietnamese,he=Hebrew,uk=Ukrainian,el=Greek,"
        "ms=Malay,cs=Czech,ro=Romanian,da=Danish,hu=Hungarian,ta=Tamil,no=Norwegian,th=Thai,"
        "ur=Urdu,hr=Croatian,bg=Bulgarian,lt=Lithuanian,la=Latin,mi=Maori,ml=Malayalam,"
        "cy=Welsh,sk=Slovak,te=Telugu,fa=Persian,lv=Latvian,bn=Bengali,sr=Serbian,"
        "az=Azerbaijani,sl=Slovenian,kn=Kannada,et=Estonian,mk=Macedonian,br=Breton,eu=Basque,"
        "is=Icelandic,hy=Armenian,ne=Nepali,mn=Mongolian,bs=Bosnian,kk=Kazakh,sq=Albanian,"
        "sw=Swahili,gl=Galician,mr=Marathi,pa=Punjabi,si=Sinhala,km=Khmer,sn=Shona,yo=Yoruba,"
        "so=Somali,af=Afrikaans,oc=Occitan,ka=Georgian,be=Belarusian,tg=Tajik,sd=Sindhi,"
        "gu=Gujarati,am=Amharic,yi=Yiddish,lo=Lao,uz=Uzbek,fo=Faroese,ht=Haitian Creole,"
        "ps=Pashto,tk=Turkmen,nn=Nynorsk,mt=Maltese,sa=Sanskrit,lb=Luxembourgish,my=Myanmar,"
        "bo=Tibetan,tl=Tagalog,mg=Malagasy,as=Assamese,tt=Tatar,haw=Hawaiian,ln=Lingala,"
        "ha=Hausa,ba=Bashkir,jv=Javanese,su=Sundanese,yue=Cantonese"
    ).split(",")
)
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")
TRANSCRIPTION_PARAMS = {"url", "model", "language", "prompt", "response_format", "temperature"}
TRANSCRIPTION_PARAMS |= {"timestamp_granularities[]"}  # Groq refuses the name without []
PRECISE_MARGIN = 0.002  # seconds a precise wait wakes early, then yields until it is due


@dataclass(frozen=True, slots=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    size: int
    head: bytes  # the first 16 bytes


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    query: dict[str, str]
    json: Any | None = None
    form: dict[str, str] | None = None  # multipart fields other than the file
    file: UploadedFile | None = None
    request_id: str = ""

    @property
    def endpoint(self) -> str:
        return self.path.removeprefix(API + "/")


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Hold:
    gate: asyncio.Event
    after_chunks: int


def echo_reply(messages: list[dict[str, Any]]) -> str:
    """The default answer: echo the last user message."""
    users = [m for m in messages if m.get("role") == "user"]
    return f"You said: {_text(users[-1].get('content')) if users else ''}"


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def is_media(head: bytes) -> bool:
    """Sniff the containers Whisper accepts: flac, mp3, mp4/m4a/mov, ogg, wav, webm."""
    return (
        head.startswith((b"fLaC", b"ID3", b"OggS", b"\x1a\x45\xdf\xa3"))
        or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG frame sync
        or head[4:8] == b"ftyp"
        or (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
    )


def _error(
    status: int, message: str, type_: str = "invalid_request_error", code: str | None = None
) -> web.Response:
    error: dict[str, str] = {"message": message, "type": type_}
    if code:
        error["code"] = code
    return web.json_response({"error": error}, status=status)


REQUEST_ID = web.RequestKey("request_id", str)
ARRIVED = web.RequestKey("arrived", float)  # time.monotonic() when the request reached the fake
RECORDED = web.RequestKey("recorded", Recorded)


class FakeGroq(LocalServer):
    """A Groq API server on 127.0.0.1; use as `async with FakeGroq() as fake:`."""

    def __init__(self, *, api_key: str = "gsk_test_fake_key") -> None:
        self.api_key = api_key
        self.models: list[str] = list(DEFAULT_MODELS)
        self.decommissioned: set[str] = set(DEFAULT_DECOMMISSIONED)
        self.vision_models: set[str] = set(VISION_MODELS)  # take image content parts
        self.reply: Reply = echo_reply
        self.reasoning: str | None = None  # reasoning text a reasoning model "thinks" first
        self.words_per_chunk = 1
        self.chunk_delay = 0.0  # chunk n is released n × chunk_delay after the request arrived
        # Timers wake up to ~1 ms late (the selector rounds its timeout up to whole ms): with
        # this set, the stream wakes 2 ms early and yields until its due time, so a benchmark's
        # configured time to first token is the one the fake really produces. Costs CPU.
        self.precise_timing = False
        self.transcript = "hello there"
        self.duration = 1.5  # seconds of audio reported by verbose_json
        self.language = "en"  # what Whisper hears when a request names no language
        self._languages: deque[str] = deque()
        self.max_upload_bytes = 25 * 1024 * 1024
        self.rate_limits = {"requests": 14400, "tokens": 6000}
        # TTS models whose terms the organisation has not accepted (400 model_terms_required).
        self.terms_required: set[str] = set()
        self.requests: list[Recorded] = []
        self.responses: dict[str, int] = {}  # request id -> status, once the response is done
        self.tokens_reported = 0  # total_tokens of every chat completion's usage sent so far
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        # (pieces before the fault, the error event to send; None: the connection is cut)
        self._stream_errors: deque[tuple[int, dict[str, Any] | None]] = deque()
        self._hold: _Hold | None = None
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=1024**3)
        app.on_response_prepare.append(self._add_headers)
        app.router.add_post(f"{API}/chat/completions", self._chat)
        app.router.add_post(f"{API}/audio/transcriptions", self._transcribe)
        app.router.add_post(f"{API}/audio/speech", self._speech)
        app.router.add_get(f"{API}/models", self._list_models)
        app.router.add_route("*", "/{tail:.*}", self._unknown_url)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closing.set()  # releases held answers and injected delays
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- scripting and faults ------------------------------------------------------------------

    def fail_next(
        self,
        endpoint: str,
        status: int,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests to `endpoint` with `status` (Groq's error body)."""
        _check_endpoint(endpoint)
        extra = {"retry-after": "0"} if status == 429 else {}
        fault = _Fault(status, body if body is not None else _fault_body(status), extra)
        fault.headers.update(headers or {})
        self._faults[endpoint].extend([fault] * times)

    def hear_next(self, language: str) -> None:
        """Make the next transcription that names no language hear `language` (a code: "es")."""
        if language not in WHISPER_LANGUAGES:
            raise ValueError(f"Whisper knows no language {language!r}")
        self._languages.append(language)

    def delay_next(self, endpoint: str, seconds: float) -> None:
        """Make the next request to `endpoint` wait `seconds` before it is handled."""
        _check_endpoint(endpoint)
        self._delays[endpoint].append(seconds)

    def fail_stream_next(self, after_chunks: int, *, error: dict[str, Any] | None = None) -> None:
        """Break the next streamed answer with `data: {"error": ...}` after `after_chunks` pieces.

        The role chunk always goes first; the error replaces the final chunk at the latest.
        """
        default = {"message": "Internal Server Error", "type": "internal_server_error"}
        self._stream_errors.append((after_chunks, error or default))

    def drop_stream_next(self, after_chunks: int) -> None:
        """Cut the connection of the next streamed answer after `after_chunks` pieces.

        No error event, no end of the chunked body: the socket closes, as when a proxy or the
        network drops it (the role chunk always goes first).
        """
        self._stream_errors.append((after_chunks, None))

    def hold(self, *, after_chunks: int = 0) -> asyncio.Event:
        """Hold chat answers until the returned event is set.

        A streamed answer sends its role chunk and `after_chunks` pieces first; a JSON answer
        waits before responding. Closing the fake releases held answers.
        """
        gate = asyncio.Event()
        self._hold = _Hold(gate, after_chunks)
        return gate

    def release(self) -> None:
        """Stop holding: answers from now on go straight through, held ones go on."""
        if self._hold is not None:
            self._hold.gate.set()
        self._hold = None

    def stop_holding(self) -> None:
        """Answers from now on go straight through; those held wait for their gate."""
        self._hold = None

    # -- inspection ----------------------------------------------------------------------------

    def calls(self, path_suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    def speech_bodies(self, *, checks: bool = False) -> list[dict[str, Any]]:
        """The JSON bodies of speech calls; without `checks`, not the start-up check's word."""
        bodies = [r.json for r in self.calls("/audio/speech") if isinstance(r.json, dict)]
        return [b for b in bodies if checks or b.get("input") != groq_speech.CHECK_INPUT]

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies (messages, model, temperature, reasoning options...) of chat calls."""
        return [r.json for r in self.calls("/chat/completions") if isinstance(r.json, dict)]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline is this helper's contract)
    ) -> None:
        """Wait until `predicate()` holds; re-checked whenever a request arrives or finishes."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            seen = [f"{r.method} {r.path}" for r in self.requests]
            raise TimeoutError(f"condition not met in {timeout}s; requests: {seen}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _pause(self, event: asyncio.Event, seconds: float | None = None) -> None:
        """Wait for `event` (or the fake closing), at most `seconds`."""
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._closing.wait())}
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _until(self, due: float) -> None:
        """Wait until `time.monotonic()` reaches `due`, or the fake closes."""
        early = PRECISE_MARGIN if self.precise_timing else 0.0
        if (coarse := due - early - time.monotonic()) > 0:
            await self._pause(self._closing, coarse)
        # A timer cannot wake this precisely; yielding lets other requests' I/O run meanwhile.
        while time.monotonic() < due and not self._closing.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0)

    # -- plumbing: record, delay, authenticate, inject ----------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request[ARRIVED] = time.monotonic()
        request_id = f"req_{uuid.uuid4().hex[:26]}"
        request[REQUEST_ID] = request_id
        recorded = await _record(request, request_id)
        request[RECORDED] = recorded
        self.requests.append(recorded)
        await self._notify()
        status = 500
        try:
            response: web.StreamResponse = await self._dispatch(request, handler, recorded.endpoint)
            status = response.status
            return response
        finally:
            self.responses[request_id] = status
            await self._notify()

    async def _dispatch(
        self, request: web.Request, handler: Handler, endpoint: str
    ) -> web.StreamResponse:
        if self._delays[endpoint]:
            await self._pause(self._closing, self._delays[endpoint].popleft())
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid API Key", code="invalid_api_key")
        if self._faults[endpoint]:
            fault = self._faults[endpoint].popleft()
            if isinstance(fault.body, str):
                return web.Response(status=fault.status, text=fault.body, headers=fault.headers)
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        response: web.StreamResponse = await handler(request)
        return response

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        requests, tokens = self.rate_limits["requests"], self.rate_limits["tokens"]
        left = max(requests - len(self.requests), 0)
        response.headers["x-request-id"] = request.get(REQUEST_ID, "")
        for name, limit, remaining, reset in [
            ("requests", requests, left, "6s"),
            ("tokens", tokens, tokens, "0s"),
        ]:
            response.headers[f"x-ratelimit-limit-{name}"] = str(limit)
            response.headers[f"x-ratelimit-remaining-{name}"] = str(remaining)
            response.headers[f"x-ratelimit-reset-{name}"] = reset

    def _model_error(self, model: Any, kind: str) -> web.Response | None:
        """Groq's answer to a model it retired, does not serve, or that cannot do `kind`."""
        if not isinstance(model, str) or not model:
            return _error(400, "property 'model' is missing")
        if model in self.decommissioned:
            return _error(
                400,
                f"The model `{model}` has been decommissioned and is no longer supported. Please "
                "refer to https://console.groq.com/docs/deprecations for a recommendation on "
                "which model to use instead.",
                code="model_decommissioned",
            )
        if model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return _error(404, message, code="model_not_found")
        if _kind_of(model) != kind:
            return _error(400, f"The model `{model}` does not support {kind}.")
        return None

    # -- endpoints -----------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[RECORDED].json
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.")
        if problem := self._model_error(body.get("model"), "chat completions"):
            return problem
        if problem := _chat_params_error(body):
            return problem
        if problem := vision_error(body, self.vision_models, request.content_length or 0):
            return problem
        messages: list[dict[str, Any]] = body["messages"]
        content = self.reply if isinstance(self.reply, str) else self.reply(messages)
        reasoning, fmt = self.reasoning, body.get("reasoning_format")
        if body.get("include_reasoning") is False or fmt == "hidden":
            reasoning = None
        if reasoning and fmt == "raw":
            content, reasoning = f"<think>{reasoning}</think>{content}", None
        content, finish = _capped(
            content, body.get("max_completion_tokens") or body.get("max_tokens")
        )
        answer = _Answer(request[REQUEST_ID], body["model"], content, reasoning, messages, finish)
        if body.get("stream"):
            return await self._stream(request, answer, body)
        if self._hold:
            await self._pause(self._hold.gate)
        return web.json_response(answer.completion())

    async def _stream(
        self, request: web.Request, answer: _Answer, body: dict[str, Any]
    ) -> web.StreamResponse:
        chunks = [answer.chunk({"role": "assistant", "content": ""}, x_groq={"id": answer.rid})]
        chunks += [answer.chunk({"reasoning": p}) for p in _split(answer.reasoning or "", 1)]
        chunks += [
            answer.chunk({"content": p}) for p in _split(answer.content, self.words_per_chunk)
        ]
        # Groq reports a stream's usage in `x_groq.usage` of its last chunk (see
        # /work/shared/api-notes.md); `usage` too only when stream_options asks for it.
        final = answer.chunk({}, answer.finish, x_groq={"id": answer.rid, "usage": answer.usage()})
        self.tokens_reported += answer.usage()["total_tokens"]
        if (body.get("stream_options") or {}).get("include_usage"):
            final["usage"] = answer.usage()
        chunks.append(final)
        broken = self._stream_errors.popleft() if self._stream_errors else None
        hold = self._hold
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for index, chunk in enumerate(chunks):
                if broken and index == min(broken[0] + 1, len(chunks) - 1):
                    if broken[1] is None:
                        assert request.transport is not None
                        request.transport.abort()
                        return response
                    await response.write(_sse({"error": broken[1]}))
                    return response
                if hold and index == hold.after_chunks + 1:
                    await self._pause(hold.gate)
                if index and self.chunk_delay:
                    await self._until(request[ARRIVED] + index * self.chunk_delay)
                await response.write(_sse(chunk))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading
        return response

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        recorded: Recorded = request[RECORDED]
        form, upload = recorded.form, recorded.file
        if form is None:
            return _error(400, "request Content-Type isn't multipart/form-data")
        if upload and upload.size > self.max_upload_bytes:
            return _error(413, "Request Entity Too Large", code="request_too_large")
        if problem := self._model_error(form.get("model"), "transcription"):
            return problem
        if problem := _transcription_params_error(form):
            return problem
        if upload is None and not form.get("url"):
            return _error(400, "either file or url must be provided")
        if upload is not None and not is_media(upload.head):
            return _error(400, BAD_MEDIA)
        heard = self._languages.popleft() if self._languages else self.language
        response_format, text = form.get("response_format", "json"), self.transcript
        x_groq = {"id": request[REQUEST_ID]}
        if response_format == "text":
            return web.Response(text=text)
        if response_format == "json":
            return web.json_response({"text": text, "x_groq": x_groq})
        language = WHISPER_LANGUAGES[form.get("language") or heard]
        verbose = _verbose(text, language, self.duration, form.get("timestamp_granularities[]"))
        return web.json_response(verbose | {"x_groq": x_groq})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = request[RECORDED].json
        model = body.get("model") if isinstance(body, dict) else None
        if problem := self._model_error(model, "speech"):
            return problem
        assert isinstance(body, dict) and isinstance(model, str)
        if model in self.terms_required:
            return web.json_response(groq_speech.terms_required(model), status=400)
        if message := groq_speech.speech_params_error(body):
            return _error(400, message)
        return groq_speech.speech_response(body)

    def _model_info(self, model: str) -> dict[str, Any]:
        owners = {"openai": "OpenAI", "qwen": "Alibaba Cloud", "canopylabs": "Canopy Labs"}
        owner = owners.get(model.split("/")[0], "OpenAI")
        window = 448 if "whisper" in model else 131072
        info = dict(id=model, object="model", created=1_700_000_000, owned_by=owner, active=True)
        return info | dict(context_window=window, public_apps=None, max_completion_tokens=window)

    async def _list_models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [self._model_info(m) for m in self.models]}
        )

    async def _unknown_url(self, request: web.Request) -> web.Response:
        message = (
            f"Unknown request URL: {request.method} {request.path}. Please check the URL for "
            "typos, or see the docs at https://console.groq.com/docs/"
        )
        return _error(404, message, code="unknown_url")


@dataclass(frozen=True, slots=True)
class _Answer:
    rid: str
    model: str
    content: str
    reasoning: str | None
    messages: list[dict[str, Any]]
    finish: str = "stop"

    @property
    def cid(self) -> str:
        return f"chatcmpl-{self.rid.removeprefix('req_')}"

    def usage(self) -> dict[str, Any]:
        prompt = sum(len(_text(m.get("content")).split()) + 4 for m in self.messages)
        completion = len(self.content.split()) + len((self.reasoning or "").split())
        times = dict(queue_time=0.01, prompt_time=0.001, completion_time=0.01, total_time=0.011)
        counts = dict(prompt_tokens=prompt, completion_tokens=completion)
        return times | counts | {"total_tokens": prompt + completion}

    def _envelope(self, kind: str) -> dict[str, Any]:
        head = dict(id=self.cid, object=kind, created=int(time.time()), model=self.model)
        return head | dict(system_fingerprint="fp_fake", service_tier="on_demand")

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message["reasoning"] = self.reasoning
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish}
        extra = dict(choices=[choice], usage=self.usage(), x_groq={"id": self.rid})
        return self._envelope("chat.completion") | extra

    def chunk(
        self, delta: dict[str, Any], finish: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._envelope("chat.completion.chunk") | {"choices": [choice]} | extra


def _kind_of(model: str) -> str:
    if "whisper" in model:
        return "transcription"
    return "speech" if model in groq_speech.VOICES else "chat completions"


def _chat_params_error(body: dict[str, Any]) -> web.Response | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(400, "property 'messages' is missing")
    for index, message in enumerate(messages):
        unknown = sorted(set(message) - MESSAGE_KEYS) if isinstance(message, dict) else []
        if unknown:
            where = f"'messages.{index}'"
            return _error(400, f"{where} : property '{unknown[0]}' is unsupported")
    # Groq documents reasoning_format and include_reasoning as mutually exclusive: a key sent
    # as null is still sent.
    if "reasoning_format" in body and "include_reasoning" in body:
        return _error(400, "reasoning_format and include_reasoning cannot both be set")
    effort = body.get("reasoning_effort")
    if effort is not None and body["model"].startswith("openai/gpt-oss"):
        if effort not in GPT_OSS_EFFORTS:
            return _error(400, f"`reasoning_effort` must be one of {sorted(GPT_OSS_EFFORTS)}")
    return None


def _capped(content: str, limit: object) -> tuple[str, str]:
    """The answer cut at `limit` tokens (a word is a token here), as Groq stops at the cap."""
    if not isinstance(limit, int) or limit <= 0:
        return content, "stop"
    tokens = _split(content, 1)
    if len(tokens) <= limit:
        return content, "stop"
    return "".join(tokens[:limit]), "length"


def _transcription_params_error(form: dict[str, str]) -> web.Response | None:
    unknown = sorted(set(form) - TRANSCRIPTION_PARAMS)
    if unknown:
        return _error(400, f"unknown param `{unknown[0]}`")
    response_format = form.get("response_format", "json")
    if response_format not in TRANSCRIPTION_FORMATS:
        return _error(400, "response_format must be one of json, text, verbose_json")
    if "timestamp_granularities[]" in form and response_format != "verbose_json":
        message = (
            "`response_format` must be `verbose_json` if `timestamp_granularities[]` is provided"
        )
        return _error(400, message)
    language = form.get("language")
    if language is not None and language not in WHISPER_LANGUAGES:
        codes = " ".join(sorted(WHISPER_LANGUAGES))
        return _error(400, f"unsupported language: {language}\nLanguage must be one of: [{codes}]")
    return None


def _verbose(text: str, language: str, duration: float, granularity: str | None) -> dict[str, Any]:
    """Groq's verbose_json: one segment, or with word granularity the words and no segments."""
    verbose: dict[str, Any] = dict(task="transcribe", language=language, duration=duration)
    verbose["text"] = text
    if granularity == "word":
        words = text.split()
        step = duration / max(len(words), 1)
        verbose["words"] = [
            dict(word=word, start=round(i * step, 2), end=round((i + 1) * step, 2))
            for i, word in enumerate(words)
        ]
        verbose["segments"] = None
        return verbose
    segment: dict[str, Any] = dict(id=0, seek=0, start=0.0, end=duration, text=text)
    segment |= dict(tokens=[50365, 2425, 50440], temperature=0.0, avg_logprob=-0.29)
    segment |= dict(compression_ratio=0.78, no_speech_prob=0.03)
    verbose["segments"] = [segment] if text else []
    return verbose


def _split(text: str, words: int) -> list[str]:
    """Cut `text` into pieces of `words` words; joined, the pieces give `text` back."""
    tokens = [t for t in re.split(r"(?<=\s)(?=\S)", text) if t]
    size = max(words, 1)
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def _check_endpoint(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        message = (
            "Rate limit reached for model `openai/gpt-oss-20b` in organization `org_fake` service "
            "tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5800, Requested 900. "
            "Please try again in 7.5s."
        )
        return {"error": {"message": message, "type": "tokens", "code": "rate_limit_exceeded"}}
    if status == 401:
        code = "invalid_api_key"
        return {"error": dict(message="Invalid API Key", type="invalid_request_error", code=code)}
    phrase = HTTPStatus(status).phrase
    kind = "internal_server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": phrase, "type": kind}}


async def _record(request: web.Request, request_id: str) -> Recorded:
    body: Any = None
    form: dict[str, str] | None = None
    upload: UploadedFile | None = None
    if request.content_type == "application/json" and request.can_read_body:
        with contextlib.suppress(ValueError):
            body = await request.json()
    elif request.content_type == "multipart/form-data":
        form = {}
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = await part.read()
                ctype = part.headers.get("Content-Type")
                upload = UploadedFile(part.filename, ctype, len(data), bytes(data[:16]))
            else:
                form[part.name] = await part.text()
    headers = {name.lower(): value for name, value in request.headers.items()}
    query = dict(request.query)
    return Recorded(request.method, request.path, headers, query, body, form, upload, request_id)
