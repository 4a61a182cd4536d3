"""GroqChatModel against the fake Groq through the real SDK, without a bot: the visible answer,
its tokens, a photo's content parts, and each way Groq fails as one line naming the setting."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import groq as groq_sdk
import pytest

from core.errors import BadInputError, ConfigurationError, ServiceError, UserFacingError
from core.groq.chat import GroqChatModel
from core.images import NOT_AN_IMAGE, TOO_BIG
from core.types import ChatMessage, Image, TokenUsage
from tests.fakes.groq import FakeGroq
from tests.fakes.images import make_png

TEXT_MODEL = "openai/gpt-oss-20b"
VISION_MODEL = "qwen/qwen3.6-27b"  # the fake's model that takes images
PHOTO = Image(make_png(), "image/png")


@pytest.fixture
async def client(groq: FakeGroq) -> AsyncIterator[groq_sdk.AsyncGroq]:
    sdk = groq_sdk.AsyncGroq(api_key=groq.api_key, base_url=groq.base_url, max_retries=0)
    try:
        yield sdk
    finally:
        await sdk.close()


async def answer(model: GroqChatModel, messages: list[ChatMessage]) -> str:
    return "".join([piece async for piece in model.stream(messages)])


async def failure(model: GroqChatModel, messages: list[ChatMessage]) -> UserFacingError:
    with pytest.raises(UserFacingError) as raised:
        await answer(model, messages)
    return raised.value


async def test_thoughts_are_hidden_and_a_held_back_tail_is_shown_at_the_end(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    chat = GroqChatModel.create(client, TEXT_MODEL)
    groq.reply = "<think>the user wants a greeting</think>Hello there, friend <th"
    assert await answer(chat, [ChatMessage("user", "Hi")]) == "Hello there, friend <th"


async def test_the_tokens_of_an_answer_are_reported_once(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.reply = "Hello there."
    chat = GroqChatModel.create(client, TEXT_MODEL)
    heard: list[TokenUsage] = []
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hi to me")]
    pieces = [piece async for piece in chat.stream(messages, on_usage=heard.append)]
    assert "".join(pieces) == "Hello there."
    # The fake counts words: (2 + 4) + (4 + 4) prompt tokens, 2 completion tokens.
    assert heard == [TokenUsage(14, 2)]
    assert [m["role"] for m in groq.chat_bodies[-1]["messages"]] == ["system", "user"]


async def test_a_photo_goes_as_its_caption_then_a_data_url(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    chat = GroqChatModel.create(client, VISION_MODEL)
    url = f"data:image/png;base64,{base64.b64encode(PHOTO.data).decode('ascii')}"
    asked = ChatMessage("user", "What's this?", PHOTO)
    await answer(chat, [ChatMessage("assistant", "Hi!"), asked])
    await answer(chat, [ChatMessage("user", "", PHOTO)])
    first, second = (body["messages"] for body in groq.chat_bodies)
    assert first == [
        {"role": "assistant", "content": "Hi!"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What's this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        },
    ]
    image_only = [{"type": "image_url", "image_url": {"url": url}}]
    assert second == [{"role": "user", "content": image_only}]


async def test_a_model_that_takes_no_images_names_vision_model(client: groq_sdk.AsyncGroq) -> None:
    chat = GroqChatModel.create(client, TEXT_MODEL, setting="VISION_MODEL")
    error = await failure(chat, [ChatMessage("user", "Look", PHOTO)])
    assert isinstance(error, ConfigurationError)
    assert error.message == "My photo service is misconfigured."
    assert error.detail.startswith("VISION_MODEL names a model that takes no images: ")


@pytest.mark.parametrize(
    ("status", "message", "kind", "line"),
    [
        (413, "Request Entity Too Large", BadInputError, TOO_BIG),
        (400, "Invalid Image data in messages[0]", BadInputError, NOT_AN_IMAGE),
        (400, "Too many requests in this context", ServiceError, "My photo service isn't"),
        (503, "Service Unavailable", ServiceError, "My photo service isn't answering"),
    ],
    ids=["too large", "not an image", "another 400", "an outage"],
)
async def test_groqs_refusals_of_a_photo_are_one_line(
    groq: FakeGroq,
    client: groq_sdk.AsyncGroq,
    status: int,
    message: str,
    kind: type[UserFacingError],
    line: str,
) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error"}}
    groq.fail_next("chat/completions", status, body=body)
    chat = GroqChatModel.create(client, VISION_MODEL, setting="VISION_MODEL")
    error = await failure(chat, [ChatMessage("user", "Look", PHOTO)])
    assert type(error) is kind and error.message.startswith(line)


async def test_a_retired_model_names_the_setting_it_came_from(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.decommissioned.add(TEXT_MODEL)
    for setting in ("LLM_MODEL", "SUMMARY_MODEL"):
        chat = GroqChatModel.create(client, TEXT_MODEL, setting=setting)
        error = await failure(chat, [ChatMessage("user", "Hi")])
        assert isinstance(error, ConfigurationError)
        assert error.message == "My answering service is misconfigured."
        assert error.detail.startswith(f"{setting} names a model Groq does not serve: ")


async def test_a_stream_cut_short_is_the_answering_service_not_answering(
    groq: FakeGroq, client: groq_sdk.AsyncGroq
) -> None:
    groq.reply = "one two three four five six"
    groq.drop_stream_next(2)
    chat = GroqChatModel.create(client, TEXT_MODEL)
    error = await failure(chat, [ChatMessage("user", "Hi")])
    assert type(error) is ServiceError
    assert error.message.startswith("My answering service isn't answering")
