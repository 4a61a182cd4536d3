"""PlainCompletions sends what the groq SDK's own `create` would, and streams dicts."""

from typing import Any

import groq as groq_sdk
import pytest
from groq.resources.chat.completions import Completions
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from core.groq.chat import GroqChatModel, reasoning_options
from core.groq.completions import PlainCompletions
from core.types import ChatMessage
from tests.fakes.groq import FakeGroq

PROMPT = [
    SystemMessage("You are a friendly avatar."),
    HumanMessage("Hi! <b>émoji</b> 🙂"),
    AIMessage("Hello — how can I help?"),
    HumanMessage("Tell me a joke."),
]
MODELS = ["openai/gpt-oss-20b", "openai/gpt-oss-120b", "qwen/qwen3.6-27b"]


class Recording(PlainCompletions):
    """Keeps every request body langchain-groq builds."""

    def __init__(self, client: groq_sdk.AsyncGroq) -> None:
        super().__init__(client)
        self.requests: list[dict[str, Any]] = []

    async def create(self, **params: Any) -> Any:
        self.requests.append(params)
        return await super().create(**params)


@pytest.mark.parametrize("model", MODELS)
async def test_the_sdk_would_send_the_same_body(groq: FakeGroq, model: str) -> None:
    # If a groq release starts renaming or re-encoding a chat parameter, this fails: then the
    # body must go through the SDK's `create` again. Compared on the wire, at the fake.
    groq.reply = "Why did the chicken cross the road?"
    client = groq_client(groq)
    chat = GroqChatModel.create(client, model)
    recording = Recording(client)
    chat._llm.async_client = recording
    async for _ in chat._llm.astream(PROMPT):
        pass
    await chat._llm.ainvoke(PROMPT)
    assert len(recording.requests) == 2
    ours = list(groq.chat_bodies)
    async with client:
        for params in recording.requests:
            sent = {key: value for key, value in params.items() if value is not None}
            answer = await client.chat.completions.create(**sent)
            if sent.get("stream"):
                async for _ in answer:
                    pass
    assert groq.chat_bodies[len(ours) :] == ours
    # The reasoning options of each model family went out as the SDK would send them.
    options = reasoning_options(model)
    expected = {**options.pop("model_kwargs", {}), **options}
    body = groq.chat_bodies[0]
    assert {key: body[key] for key in expected} == expected


async def test_streams_and_plain_answers_come_back_as_dicts(groq: FakeGroq) -> None:
    groq.reply = "Hello there."
    completions = PlainCompletions(groq_client(groq))
    messages = [{"role": "user", "content": "hi"}]
    stream = await completions.create(model="openai/gpt-oss-20b", messages=messages, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(isinstance(chunk, dict) for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello there."
    answer = await completions.create(model="openai/gpt-oss-20b", messages=messages)
    assert answer["choices"][0]["message"]["content"] == "Hello there."
    assert groq.chat_bodies[-1]["stream"] is False


async def test_extra_body_and_headers_reach_groq(groq: FakeGroq) -> None:
    completions = PlainCompletions(groq_client(groq))
    await completions.create(
        model="openai/gpt-oss-20b",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"include_reasoning": False},
        extra_headers={"X-Trace": "abc"},
        extra_query={"trace": "1"},
    )
    assert groq.chat_bodies[-1]["include_reasoning"] is False
    assert groq.calls("/chat/completions")[-1].headers["x-trace"] == "abc"
    assert groq.calls("/chat/completions")[-1].query == {"trace": "1"}


async def test_errors_are_the_sdk_errors(groq: FakeGroq) -> None:
    groq.fail_next("chat/completions", 401)
    with pytest.raises(groq_sdk.AuthenticationError):
        await PlainCompletions(groq_client(groq)).create(
            model="openai/gpt-oss-20b", messages=[{"role": "user", "content": "hi"}]
        )


def groq_client(fake: FakeGroq) -> groq_sdk.AsyncGroq:
    return groq_sdk.AsyncGroq(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)


def test_chatgroq_builds_no_synchronous_client_beside_ours() -> None:
    model = GroqChatModel.create(groq_sdk.AsyncGroq(api_key="gsk_test"), MODELS[0])
    assert isinstance(model._llm.async_client, PlainCompletions)
    assert not isinstance(model._llm.client, Completions)
    with pytest.raises(RuntimeError, match="asynchronously"):
        model._llm.invoke("hello")


@pytest.mark.parametrize("model", MODELS)
async def test_every_chat_request_is_bounded_and_sends_no_null_or_conflicting_keys(
    groq: FakeGroq, model: str
) -> None:
    groq.reply = " ".join(f"word{n}" for n in range(100))
    chat = GroqChatModel.create(groq_client(groq), model, max_tokens=16)
    answer = "".join([piece async for piece in chat.stream([ChatMessage("user", "Talk a lot.")])])
    body = groq.chat_bodies[-1]
    assert body["max_completion_tokens"] == 16 and "max_tokens" not in body
    assert [key for key, value in body.items() if value is None] == []
    assert not {"reasoning_format", "include_reasoning"} <= set(body)
    # Groq stops at the cap (finish_reason "length"); the answer is what it sent.
    assert answer.split() == [f"word{n}" for n in range(16)]
