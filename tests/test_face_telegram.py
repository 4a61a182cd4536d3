"""`/face` on Telegram: the wired bot, the real python-telegram-bot, fake Telegram, Groq, D-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.avatar.faces import FACE_RESET, FACE_SET, NO_PHOTO, REFUSALS
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.images import make_jpeg, make_png
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

ALICE, GROUP = 1001, -100500
DEFAULT_FACE = "https://example.com/face.jpg"  # AVATAR_IMAGE_URL in tests/harness.py
GROQ_REPLY = "Hello from Ava. Nice to see you."


@pytest.fixture
def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram) -> Any:
    return settings_for(tmp_path, groq, did, **telegram_at(tg))


@pytest.fixture
async def bot(settings: Any, tg: FakeTelegram) -> AsyncIterator[None]:
    async with running_bot(settings):
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        yield


def sizes(photo: bytes, width: int = 1280, height: int = 960) -> list[tuple[bytes, int, int]]:
    """Telegram's sizes of a photo: a thumbnail (other bytes), then the photo itself."""
    return [(make_jpeg(90, 68), 90, 68), (photo, width, height)]


async def reply_to(tg: FakeTelegram, chat: int, pushed: dict[str, Any], count: int = 1) -> str:
    sent = await tg.wait_for_sent(chat, "sendMessage", count)
    last = sent[-1]
    assert last.reply_to == pushed["message"]["message_id"]
    return last.text or ""


async def test_a_photo_captioned_face_becomes_the_avatar_face(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    photo = make_jpeg(1280, 960)
    pushed = tg.push_photo(ALICE, sizes(photo), caption="/face")
    assert await reply_to(tg, ALICE, pushed) == FACE_SET
    (image,) = did.images.values()
    assert image.data == photo and image.mime == "image/jpeg"
    assert not groq.calls("/chat/completions")  # a command, not a question
    (largest,) = [c for c in tg.calls("getFile")]
    assert largest.params["file_id"] == pushed["message"]["photo"][-1]["file_id"]

    tg.push_text(ALICE, "Hi there")
    await tg.wait_for_sent(ALICE, "sendVideo")
    (talk,) = did.talks.values()
    assert talk.request["source_url"] == image.url

    reset = tg.push_text(ALICE, "/face reset")
    assert await reply_to(tg, ALICE, reset, 3) == FACE_RESET
    tg.push_text(ALICE, "And now?")
    await tg.wait_for_sent(ALICE, "sendVideo", 2)
    assert [t.request["source_url"] for t in did.talks.values()] == [image.url, DEFAULT_FACE]


async def test_face_replying_to_a_photo_takes_that_photo(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    photo = tg.push_photo(
        GROUP, sizes(make_png(600, 600), 600, 600), caption="look at this", chat_type="group"
    )
    reply_id = photo["message"]["message_id"]
    command = tg.push_text(GROUP, "/face", chat_type="group", reply_to_message_id=reply_id)
    assert await reply_to(tg, GROUP, command) == FACE_SET
    (image,) = did.images.values()
    assert image.mime == "image/png"


async def test_face_without_a_photo_says_how(tg: FakeTelegram, did: FakeDID, bot: None) -> None:
    command = tg.push_text(ALICE, "/face")
    assert await reply_to(tg, ALICE, command) == NO_PHOTO
    assert not did.calls("/images")


async def test_a_too_small_photo_gets_did_refusal_in_one_line(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    pushed = tg.push_photo(ALICE, [(make_jpeg(120, 90), 120, 90)], caption="/face")
    assert await reply_to(tg, ALICE, pushed) == REFUSALS["InvalidImageResolutionError"]
    assert not did.images


async def test_a_huge_photo_is_declined_before_it_is_downloaded(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    big = 15 * 1024 * 1024
    pushed = tg.push_photo(ALICE, sizes(make_jpeg()), file_sizes=[None, big], caption="/face")
    assert await reply_to(tg, ALICE, pushed) == (
        "That photo is too large for the avatar: 10 MB at most."
    )
    assert not tg.calls("getFile") and not did.calls("/images")


async def test_a_photo_file_that_is_no_jpeg_or_png_gets_one_line(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    pushed = tg.push_document(
        ALICE, b"GIF89a" + bytes(64), mime="image/gif", file_name="me.gif", caption="/face"
    )
    assert await reply_to(tg, ALICE, pushed) == REFUSALS["UnsupportedMimeTypeError"]
    assert not did.calls("/images")


async def test_with_a_vision_model_a_face_photo_is_still_a_command(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    vision = settings_for(
        tmp_path,
        groq,
        did,
        VISION_MODEL="meta-llama/llama-4-scout-17b-16e-instruct",
        **telegram_at(tg),
    )
    async with running_bot(vision):
        pushed = tg.push_photo(ALICE, sizes(make_jpeg()), caption="/face")
        assert await reply_to(tg, ALICE, pushed) == FACE_SET
    assert not groq.calls("/chat/completions")  # not asked about the photo
    assert len(did.images) == 1
