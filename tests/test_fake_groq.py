"""FakeGroq speaks Groq's wire protocol: the real `groq` SDK and ChatGroq work against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import groq
import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_groq import ChatGroq

from tests.fakes.groq import FakeGroq

DATA = Path(__file__).parent / "data"
MODEL = "openai/gpt-oss-20b"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGroq]:
    async with FakeGroq() as server:
        yield server


@pytest.fixture
async def client(fake: FakeGroq) -> AsyncIterator[groq.AsyncGroq]:
    async with groq.AsyncGroq(
        base_url=fake.base_url, api_key=fake.api_key, max_retries=0, timeout=5
    ) as sdk:
        yield sdk


@pytest.fixture
async def llm(fake: FakeGroq) -> AsyncIterator[ChatGroq]:
    async with httpx.AsyncClient() as http:
        yield ChatGroq(
            model=MODEL,
            base_url=fake.base_url,
            api_key=fake.api_key,  # type: ignore[arg-type]
            max_retries=0,
            timeout=5,
            http_async_client=http,
        )


def _error_code(exc: groq.APIStatusError) -> str:
    assert isinstance(exc.body, dict)
    return str(exc.body["error"].get("code"))


async def test_chatgroq_streams_scripted_chunks_with_usage(fake: FakeGroq, llm: ChatGroq) -> None:
    fake.reply = "one two three four five"
    fake.words_per_chunk = 2
    prompt = [SystemMessage("Be brief."), HumanMessage("count to five")]

    chunks = [chunk async for chunk in llm.astream(prompt)]

    assert [c.content for c in chunks if c.content] == ["one two ", "three four ", "five"]
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert isinstance(full, AIMessageChunk)
    assert full.content == "one two three four five"
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] == 5
    sent = fake.chat_bodies[-1]
    assert sent["stream"] is True and sent["model"] == MODEL
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "count to five"},
    ]


async def test_chatgroq_ainvoke_gives_the_full_echo(fake: FakeGroq, llm: ChatGroq) -> None:
    answer = await llm.ainvoke([HumanMessage("hello bot")])

    assert answer.content == "You said: hello bot"
    assert fake.chat_bodies[-1].get("stream") is False


async def test_reasoning_is_parsed_or_dropped_as_requested(fake: FakeGroq, llm: ChatGroq) -> None:
    fake.reasoning = "think hard"
    parsed = llm.model_copy(update={"reasoning_format": "parsed"})
    shown = await parsed.ainvoke([HumanMessage("hi")])
    hidden = await llm.model_copy(update={"reasoning_format": "hidden"}).ainvoke("hi")

    assert shown.additional_kwargs.get("reasoning_content") == "think hard"
    assert "reasoning_content" not in hidden.additional_kwargs
    with pytest.raises(groq.BadRequestError, match="cannot both be set"):
        await parsed.ainvoke([HumanMessage("hi")], include_reasoning=False)
    # ChatGroq sends an unset reasoning_format as null: beside include_reasoning, still both.
    with pytest.raises(groq.BadRequestError, match="cannot both be set"):
        await llm.ainvoke([HumanMessage("hi")], include_reasoning=False)


async def test_transcribes_a_voice_note_and_records_the_form(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    data = (DATA / "voice.ogg").read_bytes()

    result = await client.audio.transcriptions.create(
        file=("voice.ogg", data, "audio/ogg"), model="whisper-large-v3-turbo", language="en"
    )

    assert result.text == "hello there"
    sent = fake.calls("/audio/transcriptions")[-1]
    assert sent.file is not None and sent.form is not None
    assert (sent.file.filename, sent.file.content_type) == ("voice.ogg", "audio/ogg")
    assert sent.file.size == len(data) and sent.file.head.startswith(b"OggS")
    assert sent.form["model"] == "whisper-large-v3-turbo" and sent.form["language"] == "en"


async def test_verbose_json_names_the_language_heard_as_groq_does(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    data = (DATA / "voice.ogg").read_bytes()
    fake.hear_next("es")

    async def verbose(**extra: Any) -> dict[str, Any]:
        result = await client.audio.transcriptions.create(
            file=("v.ogg", data), model="whisper-large-v3", response_format="verbose_json", **extra
        )
        assert result.text == "hello there"
        return result.model_extra or {}

    heard, plain, asked = await verbose(), await verbose(), await verbose(language="fr")

    assert [d["language"] for d in (heard, plain, asked)] == ["Spanish", "English", "French"]
    assert heard["task"] == "transcribe" and heard["duration"] == fake.duration
    (segment,) = heard["segments"]
    fields = (
        "id seek start end text tokens temperature avg_logprob compression_ratio no_speech_prob"
    )
    assert set(segment) == set(fields.split())
    assert heard["x_groq"]["id"].startswith("req_")
    words = await verbose(timestamp_granularities=["word"])
    assert words["segments"] is None and [w["word"] for w in words["words"]] == ["hello", "there"]
    with pytest.raises(ValueError, match="no language"):
        fake.hear_next("spanish")


async def test_text_format_is_plain_text(client: groq.AsyncGroq) -> None:
    raw = await client.audio.transcriptions.with_raw_response.create(
        file=("v.ogg", (DATA / "voice.ogg").read_bytes()),
        model="whisper-large-v3",
        response_format="text",
    )

    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.http_response.text == "hello there"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"response_format": "srt"}, "response_format must be one of json, text, verbose_json"),
        ({"language": "english"}, "unsupported language: english\nLanguage must be one of: [af "),
        (
            {"timestamp_granularities": ["word"]},
            "must be `verbose_json` if `timestamp_granularities",
        ),
        ({"extra_body": {"stream": "true"}}, "unknown param `stream`"),
    ],
    ids=["srt", "language-name", "granularity-without-verbose", "unknown-param"],
)
async def test_bad_transcription_params_are_400s(
    client: groq.AsyncGroq, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(groq.BadRequestError) as caught:
        await client.audio.transcriptions.create(
            file=("v.ogg", (DATA / "voice.ogg").read_bytes()), model="whisper-large-v3", **extra
        )

    assert isinstance(caught.value.body, dict)
    assert message in caught.value.body["error"]["message"]


@pytest.mark.parametrize(
    "data",
    [b"", b"just some text", (DATA / "voice.aiff").read_bytes()],
    ids=["empty", "text", "aiff"],
)
async def test_rejects_what_is_not_media(client: groq.AsyncGroq, data: bytes) -> None:
    with pytest.raises(groq.BadRequestError, match="valid media file"):
        await client.audio.transcriptions.create(file=("a.ogg", data), model="whisper-large-v3")


async def test_rejects_an_upload_over_the_limit(fake: FakeGroq, client: groq.AsyncGroq) -> None:
    fake.max_upload_bytes = 100

    with pytest.raises(groq.APIStatusError) as caught:
        await client.audio.transcriptions.create(
            file=("v.ogg", b"OggS" + bytes(200)), model="whisper-large-v3"
        )

    assert caught.value.status_code == 413 and _error_code(caught.value) == "request_too_large"


async def test_wrong_key_is_an_authentication_error(fake: FakeGroq) -> None:
    async with groq.AsyncGroq(base_url=fake.base_url, api_key="gsk_wrong", max_retries=0) as sdk:
        with pytest.raises(groq.AuthenticationError) as caught:
            await sdk.models.list()

    assert _error_code(caught.value) == "invalid_api_key"


async def test_sdk_retries_a_429_and_succeeds(fake: FakeGroq) -> None:
    fake.fail_next("chat/completions", 429, headers={"retry-after": "0"})

    async with groq.AsyncGroq(base_url=fake.base_url, api_key=fake.api_key, max_retries=2) as sdk:
        answer = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )

    assert answer.choices[0].message.content == "You said: hi"
    assert [fake.responses[r.request_id] for r in fake.calls("/chat/completions")] == [429, 200]


async def test_mid_stream_error_raises_from_the_stream(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    fake.reply = "a b c d"
    fake.fail_stream_next(2, error={"message": "model overloaded", "type": "server_error"})
    pieces: list[str] = []

    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(groq.APIError, match="model overloaded"):
        async for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "")

    assert "".join(pieces) == "a b "


async def test_held_answer_stays_in_flight_until_released(
    fake: FakeGroq, client: groq.AsyncGroq
) -> None:
    gate = fake.hold(after_chunks=1)
    fake.reply = "first second"
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    request_id = fake.calls("/chat/completions")[-1].request_id

    first = [await anext(stream), await anext(stream)]
    assert first[1].choices[0].delta.content == "first "
    assert request_id not in fake.responses
    gate.set()
    rest = [chunk async for chunk in stream]

    assert rest[0].choices[0].delta.content == "second"
    assert rest[-1].x_groq is not None and rest[-1].x_groq.usage is not None
    await fake.wait_for(lambda: fake.responses.get(request_id) == 200)


async def test_retired_and_unknown_models(client: groq.AsyncGroq) -> None:
    messages: list[groq.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]

    with pytest.raises(groq.BadRequestError) as retired:
        await client.chat.completions.create(model="llama3-8b-8192", messages=messages)
    with pytest.raises(groq.NotFoundError) as unknown:
        await client.chat.completions.create(model="no-such-model", messages=messages)

    assert _error_code(retired.value) == "model_decommissioned"
    assert "has been decommissioned" in retired.value.message
    assert _error_code(unknown.value) == "model_not_found"


async def test_models_list_and_rate_limit_headers(client: groq.AsyncGroq) -> None:
    raw = await client.models.with_raw_response.list()
    models = await raw.parse()

    assert {"openai/gpt-oss-20b", "whisper-large-v3-turbo"} <= {m.id for m in models.data}
    assert raw.headers["x-request-id"].startswith("req_")
    for name in ("requests", "tokens"):
        assert raw.headers[f"x-ratelimit-limit-{name}"]
        assert raw.headers[f"x-ratelimit-remaining-{name}"]
        assert raw.headers[f"x-ratelimit-reset-{name}"]


async def test_injected_5xx_and_delay(fake: FakeGroq, client: groq.AsyncGroq) -> None:
    fake.fail_next("models", 503)
    with pytest.raises(groq.InternalServerError) as caught:
        await client.models.list()
    assert caught.value.body == {
        "error": {"message": "Service Unavailable", "type": "internal_server_error"}
    }

    fake.delay_next("models", 30)
    with pytest.raises(groq.APITimeoutError):
        await client.models.list(timeout=0.2)


async def test_doubled_api_prefix_is_an_unknown_url(fake: FakeGroq) -> None:
    base = fake.base_url + "/openai/v1"
    async with groq.AsyncGroq(base_url=base, api_key=fake.api_key, max_retries=0) as sdk:
        with pytest.raises(groq.NotFoundError) as caught:
            await sdk.models.list()

    assert _error_code(caught.value) == "unknown_url"


async def test_wait_for_wakes_on_a_new_request(fake: FakeGroq, client: groq.AsyncGroq) -> None:
    listing = asyncio.create_task(client.models.list())

    await fake.wait_for(lambda: len(fake.calls("/models")) == 1)
    await listing
