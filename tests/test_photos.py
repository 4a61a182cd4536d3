"""Photos answered by VISION_MODEL: the real core and ChatGroq against fake Groq.

Fake Groq checks image content parts as Groq's vision guide defines them
(tests/fakes/groq_vision.py); these tests also show it refuses what Groq refuses.
"""

import base64
import json
import logging
import struct
from pathlib import Path
from typing import Any

import groq as groq_sdk
import pytest

from bot.check import check_groq
from core.images import (
    MAX_IMAGE_BYTES,
    NOT_AN_IMAGE,
    TOO_BIG,
    TOO_MANY_PIXELS,
    dimensions,
    sniff,
)
from core.types import ConversationKey, Event, Failure, FinalText, Image, Turn
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal
from tests.photos import jpeg, png, png_claiming

VISION = "qwen/qwen3.6-27b"
KEY = ConversationKey("test", "1")
GROQ_REPLY = "A grey square."


def on(tmp_path: Path, groq: FakeGroq, **overrides: Any) -> Any:
    return settings_for(tmp_path, groq, None, **({"VISION_MODEL": VISION} | overrides))


async def ask(settings: Any, *turns: Turn) -> list[list[Event]]:
    async with terminal(settings) as (_, _, core):
        return [[event async for event in core.conversations.handle(turn)] for turn in turns]


def photo_turn(data: bytes, caption: str | None = None, mime: str = "image/png") -> Turn:
    return Turn(KEY, "u", text=caption, image=Image(data, mime))


async def test_a_photo_and_its_caption_go_to_the_vision_model_with_the_history(
    tmp_path: Path, groq: FakeGroq
) -> None:
    image = png()
    answers = await ask(
        on(tmp_path, groq),
        Turn(KEY, "u", text="I painted something."),
        photo_turn(image, "What colour is it?"),
        Turn(KEY, "u", text="And what shape?"),
    )
    assert all(isinstance(events[-1], FinalText) for events in answers)
    first, second, third = groq.chat_bodies
    assert first["model"] == "openai/gpt-oss-20b" and third["model"] == "openai/gpt-oss-20b"
    assert second["model"] == VISION
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    assert second["messages"][-1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What colour is it?"},
            {"type": "image_url", "image_url": {"url": url}},
        ],
    }
    assert [m["content"] for m in second["messages"][1:-1]] == [
        "I painted something.",
        "A grey square.",
    ]
    # Later turns see a note of the photo and the vision model's answer, never the bytes.
    assert [m["content"] for m in third["messages"][1:]] == [
        "I painted something.",
        "A grey square.",
        "[photo] What colour is it?",
        "A grey square.",
        "And what shape?",
    ]
    assert "base64" not in json.dumps(third)


async def test_a_photo_without_a_caption_is_answered_too(tmp_path: Path, groq: FakeGroq) -> None:
    image = jpeg()
    (events, later) = await ask(
        on(tmp_path, groq), photo_turn(image, mime="image/jpeg"), Turn(KEY, "u", text="Thanks")
    )
    assert isinstance(events[-1], FinalText) and events[-1].text == "A grey square."
    photo, after = groq.chat_bodies
    url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    assert photo["messages"][-1]["content"] == [{"type": "image_url", "image_url": {"url": url}}]
    assert after["messages"][1]["content"] == "[photo]"


async def test_the_sniffed_type_is_sent_whatever_the_platform_said(
    tmp_path: Path, groq: FakeGroq
) -> None:
    await ask(on(tmp_path, groq), photo_turn(png(), mime="application/octet-stream"))
    (body,) = groq.chat_bodies
    assert body["messages"][-1]["content"][0]["image_url"]["url"].startswith("data:image/png;")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (jpeg(padding=MAX_IMAGE_BYTES), TOO_BIG),
        (png_claiming(8000, 5000), TOO_MANY_PIXELS),  # 40 MP over Groq's 33
        (b"%PDF-1.7 not a picture", NOT_AN_IMAGE),
    ],
    ids=["over-2.8-MB", "over-33-megapixels", "not-an-image"],
)
async def test_a_photo_over_groqs_limits_is_declined_before_any_request(
    tmp_path: Path, groq: FakeGroq, data: bytes, line: str
) -> None:
    (events,) = await ask(on(tmp_path, groq), photo_turn(data, "Look"))
    assert events == [Failure(line)]
    assert groq.chat_bodies == []


async def test_without_vision_model_a_photo_gets_one_line(tmp_path: Path, groq: FakeGroq) -> None:
    (events,) = await ask(settings_for(tmp_path, groq, None), photo_turn(png(), "Look"))
    assert events == [Failure("I can't look at photos here — send me text or a voice note.")]
    assert groq.chat_bodies == []


async def test_a_vision_model_that_takes_no_images_is_named_as_misconfigured(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.conversation")
    settings = on(tmp_path, groq, VISION_MODEL="openai/gpt-oss-120b")
    (events,) = await ask(settings, photo_turn(png(), "Look"))
    assert events == [Failure("My photo service is misconfigured.")]
    assert "VISION_MODEL names a model that takes no images" in caplog.text


async def test_groqs_413_for_a_large_image_request_says_the_limit(
    tmp_path: Path, groq: FakeGroq
) -> None:
    groq.fail_next("chat/completions", 413)
    (events,) = await ask(on(tmp_path, groq), photo_turn(png(), "Look"))
    assert events == [Failure(TOO_BIG)]


# -- the fake refuses what Groq refuses --------------------------------------------------------


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("model", "messages", "status", "says"),
    [
        (
            "openai/gpt-oss-20b",
            [{"role": "user", "content": [image_part(data_url(png()))]}],
            400,
            "messages[0].content must be a string",
        ),
        (
            VISION,
            [{"role": "system", "content": [{"type": "text", "text": "hi"}]}],
            400,
            "messages[0].content must be a string",
        ),
        (
            VISION,
            [{"role": "user", "content": [image_part(data_url(png()))] * 6}],
            400,
            "Too many images",
        ),
        (
            VISION,
            [{"role": "user", "content": [image_part("data:image/png;base64,%%%")]}],
            400,
            "invalid base64",
        ),
        (
            VISION,
            [{"role": "user", "content": [image_part("data:text/plain,hi")]}],
            400,
            "invalid image data URL",
        ),
        (
            VISION,
            [
                {
                    "role": "user",
                    "content": [image_part(data_url(b"GIF89a" + b"\0" * 4, "image/png"))],
                }
            ],
            400,
            "failed to decode image",
        ),
        (
            VISION,
            [{"role": "user", "content": [image_part(data_url(png_claiming(8000, 5000)))]}],
            400,
            "resolution",
        ),
        (
            VISION,
            [
                {
                    "role": "user",
                    "content": [image_part(data_url(jpeg(padding=3_200_000), "image/jpeg"))],
                }
            ],
            413,
            "Request Entity Too Large",
        ),
    ],
    ids=[
        "text-model",
        "system-parts",
        "six-images",
        "bad-base64",
        "not-image-mime",
        "not-the-mime-it-says",
        "over-33-megapixels",
        "over-4-MB",
    ],
)
async def test_fake_groq_refuses_image_requests_as_groq_does(
    groq: FakeGroq, model: str, messages: list[dict[str, Any]], status: int, says: str
) -> None:
    client = groq_sdk.AsyncGroq(api_key=groq.api_key, base_url=groq.base_url, max_retries=0)
    async with client:
        with pytest.raises(groq_sdk.APIStatusError) as raised:
            await client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    assert raised.value.status_code == status
    assert says in raised.value.message
    error = raised.value.response.json()["error"]
    assert error["type"] == "invalid_request_error" and says in error["message"]


async def test_check_names_an_unserved_vision_model(tmp_path: Path, groq: FakeGroq) -> None:
    async with terminal(on(tmp_path, groq)) as (_, _, core):
        assert await check_groq(core) == (
            f"openai/gpt-oss-20b, whisper-large-v3-turbo and {VISION} are served"
        )
    async with terminal(on(tmp_path, groq, VISION_MODEL="nobody/sees-7b")) as (_, _, core):
        with pytest.raises(LookupError, match="VISION_MODEL=nobody/sees-7b"):
            await check_groq(core)


@pytest.mark.parametrize(
    ("data", "mime", "size"),
    [
        (jpeg(1024, 768), "image/jpeg", (1024, 768)),
        (png(5, 7), "image/png", (5, 7)),
        (b"GIF89a" + struct.pack("<HH", 300, 200) + b"\0" * 8, "image/gif", (300, 200)),
        (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 8, "image/webp", None),  # not read: Groq checks it
        (b"\x00\x00\x00\x18ftypheic", None, None),  # HEIC: not one of the four formats
    ],
    ids=["jpeg", "png", "gif", "webp", "heic"],
)
def test_images_are_sniffed_and_measured_from_their_headers(
    data: bytes, mime: str | None, size: tuple[int, int] | None
) -> None:
    assert sniff(data) == mime
    if mime is not None:
        assert dimensions(data, mime) == size
