"""Photos on Telegram and Discord: the wired bot and the real libraries against the fakes."""

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.handlers import NOT_AUDIO, NOT_AUDIO_WITH_PHOTOS
from adapters.telegram.handlers import TOO_BIG, UNSUPPORTED, UNSUPPORTED_WITH_PHOTOS
from core.images import TOO_BIG as IMAGE_TOO_BIG
from tests.fakes.discord import USER_ID, AttachmentSpec, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at
from tests.photos import jpeg, png

ALICE = 1001
VISION = "qwen/qwen3.6-27b"
GROQ_REPLY = "A small grey picture."


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def last_user_content(groq: FakeGroq) -> Any:
    return groq.chat_bodies[-1]["messages"][-1]["content"]


# -- Telegram ------------------------------------------------------------------------------------


@pytest.fixture
async def telegram(tmp_path: Path, groq: FakeGroq, tg: FakeTelegram) -> AsyncIterator[None]:
    settings = settings_for(tmp_path, groq, None, VISION_MODEL=VISION, **telegram_at(tg))
    async with running_bot(settings):
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        yield


def texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [s.text or "" for s in tg.sent(chat, "sendMessage")]


async def test_telegram_photo_with_caption_is_answered_from_its_largest_fitting_size(
    tg: FakeTelegram, groq: FakeGroq, telegram: None
) -> None:
    small, medium, large = jpeg(90, 67), jpeg(800, 600), jpeg(2560, 1920)
    sizes = [(small, 90, 67), (medium, 800, 600), (large, 2560, 1920)]
    # The largest claims more than a vision request carries: the next one is sent.
    pushed = tg.push_photo(
        ALICE, sizes, file_sizes=[None, None, 3_500_000], caption="What is this?"
    )
    (answer,) = await tg.wait_for_sent(ALICE, "sendMessage")
    assert answer.text == GROQ_REPLY
    assert answer.reply_to == pushed["message"]["message_id"]
    assert groq.chat_bodies[-1]["model"] == VISION
    assert last_user_content(groq) == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url(medium, "image/jpeg")}},
    ]


async def test_telegram_photo_without_caption_and_image_document(
    tg: FakeTelegram, groq: FakeGroq, telegram: None
) -> None:
    tg.push_photo(ALICE, [(jpeg(), 640, 480)])
    await tg.wait_for_sent(ALICE, "sendMessage")
    assert last_user_content(groq) == [
        {"type": "image_url", "image_url": {"url": data_url(jpeg(), "image/jpeg")}}
    ]
    image = png()
    tg.push_document(ALICE, image, mime="image/png", file_name="chart.png", caption="Explain")
    await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    assert last_user_content(groq)[1]["image_url"]["url"] == data_url(image, "image/png")


async def test_telegram_group_photo_is_asked_about_with_talk_as_a_reply(
    tg: FakeTelegram, groq: FakeGroq, telegram: None
) -> None:
    group = -100500
    shared = tg.push_photo(group, [(jpeg(), 640, 480)], chat_type="group")  # not for the bot
    tg.push_text(
        group,
        "/talk what breed is it?",
        chat_type="group",
        reply_to_message_id=shared["message"]["message_id"],
    )
    (answer,) = await tg.wait_for_sent(group, "sendMessage")
    assert answer.text == GROQ_REPLY
    (body,) = groq.chat_bodies  # the photo alone was not answered
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "what breed is it?"},
        {"type": "image_url", "image_url": {"url": data_url(jpeg(), "image/jpeg")}},
    ]


async def test_telegram_images_over_the_limits_are_declined_before_download(
    tg: FakeTelegram, groq: FakeGroq, telegram: None
) -> None:
    tg.push_document(ALICE, png(), mime="image/png", file_name="big.png", file_size=3_000_000)
    tg.push_document(ALICE, png(), mime="image/png", file_name="huge.png", file_size=25 << 20)
    await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    assert texts(tg, ALICE) == [IMAGE_TOO_BIG, TOO_BIG]
    assert not tg.calls("getFile")
    assert groq.chat_bodies == []


async def test_telegram_unreadable_file_names_photos_among_what_the_bot_reads(
    tg: FakeTelegram, telegram: None
) -> None:
    tg.push_document(ALICE, b"%PDF-1.7", mime="application/pdf", file_name="a.pdf")
    (line,) = await tg.wait_for_sent(ALICE, "sendMessage")
    assert line.text == UNSUPPORTED_WITH_PHOTOS


async def test_telegram_without_vision_model_a_photo_gets_todays_line(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    async with running_bot(settings_for(tmp_path, groq, None, **telegram_at(tg))):
        tg.push_photo(ALICE, [(jpeg(), 640, 480)])
        (line,) = await tg.wait_for_sent(ALICE, "sendMessage")
    assert line.text == UNSUPPORTED
    assert groq.chat_bodies == [] and not tg.calls("getFile")


async def test_telegram_photo_recorded_before_a_restart_is_fetched_again_and_answered(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    settings = settings_for(
        tmp_path, groq, None, VISION_MODEL=VISION, SHUTDOWN_GRACE_SECONDS=0.1, **telegram_at(tg)
    )
    async with running_bot(settings):
        gate = groq.hold()
        tg.push_photo(ALICE, [(jpeg(), 640, 480)], caption="Again?")
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    groq.stop_holding()
    gate.set()
    async with running_bot(settings):  # the same database: the inbox row is answered now
        await tg.wait_for_sent(ALICE, "sendMessage")
    assert len(tg.calls("getFile")) == 2  # the file was fetched again, not kept
    assert len(groq.chat_bodies) == 2
    assert last_user_content(groq)[1]["image_url"]["url"] == data_url(jpeg(), "image/jpeg")


# -- Discord -------------------------------------------------------------------------------------


def discord_settings(tmp_path: Path, groq: FakeGroq, dc: FakeDiscord, **extra: Any) -> Any:
    return settings_for(
        tmp_path,
        groq,
        None,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        **extra,
    )


def replies(dc: FakeDiscord, channel: int) -> list[str]:
    sent = [dc.message(s.message_id or 0) for s in dc.sent(channel, "message")]
    return [m["content"] for m in sent if m is not None]


async def test_discord_image_attachment_is_answered_with_its_text(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    image = png()
    async with running_bot(discord_settings(tmp_path, groq, dc, VISION_MODEL=VISION)):
        await dc.wait_for(lambda: dc.connected)
        channel = dc.add_dm_channel(USER_ID)
        photo = AttachmentSpec("cat.png", image, "image/png")
        await dc.push_dm(USER_ID, "Who is this?", attachments=[photo])
        await dc.wait_for(lambda: GROQ_REPLY in replies(dc, channel))
        await dc.push_dm(USER_ID, attachments=[AttachmentSpec("dog.png", image, "image/png")])
        await dc.wait_for(lambda: len(groq.chat_bodies) == 2)
    first, second = groq.chat_bodies
    assert first["model"] == VISION
    assert first["messages"][-1]["content"] == [
        {"type": "text", "text": "Who is this?"},
        {"type": "image_url", "image_url": {"url": data_url(image, "image/png")}},
    ]
    assert second["messages"][-1]["content"][0]["type"] == "image_url"


async def test_discord_large_image_is_declined_before_download(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    big = AttachmentSpec("big.jpg", jpeg(padding=2_900_000), "image/jpeg")
    async with running_bot(discord_settings(tmp_path, groq, dc, VISION_MODEL=VISION)):
        await dc.wait_for(lambda: dc.connected)
        channel = dc.add_dm_channel(USER_ID)
        await dc.push_dm(USER_ID, attachments=[big])
        await dc.wait_for(lambda: replies(dc, channel))
    assert IMAGE_TOO_BIG in replies(dc, channel)[0]
    assert not dc.calls("big.jpg", "GET")
    assert groq.chat_bodies == []


@pytest.mark.parametrize(("vision", "line"), [("", NOT_AUDIO), (VISION, NOT_AUDIO_WITH_PHOTOS)])
async def test_discord_unreadable_attachment_line_mentions_photos_only_when_enabled(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord, vision: str, line: str
) -> None:
    attachments = [AttachmentSpec("notes.pdf", b"%PDF-1.7", "application/pdf")]
    if not vision:
        attachments.append(AttachmentSpec("cat.png", png(), "image/png"))  # photos off: unread
    async with running_bot(discord_settings(tmp_path, groq, dc, VISION_MODEL=vision)):
        await dc.wait_for(lambda: dc.connected)
        channel = dc.add_dm_channel(USER_ID)
        await dc.push_dm(USER_ID, attachments=attachments)
        await dc.wait_for(lambda: replies(dc, channel))
    assert replies(dc, channel) == [line]
    assert groq.chat_bodies == []


async def test_discord_photo_recorded_before_a_restart_is_fetched_again_and_answered(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    image = png()
    settings = discord_settings(tmp_path, groq, dc, VISION_MODEL=VISION, SHUTDOWN_GRACE_SECONDS=0)
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected)
        channel = dc.add_dm_channel(USER_ID)
        gate = groq.hold()
        await dc.push_dm(USER_ID, "And now?", attachments=[AttachmentSpec("a.png", image)])
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    groq.stop_holding()
    gate.set()
    async with running_bot(settings):  # the inbox row: the message is fetched, its photo read
        await dc.wait_for(lambda: GROQ_REPLY in replies(dc, channel), timeout=10)
    assert len(groq.chat_bodies) == 2
    assert groq.chat_bodies[1]["messages"][-1]["content"] == [
        {"type": "text", "text": "And now?"},
        {"type": "image_url", "image_url": {"url": data_url(image, "image/png")}},
    ]
    assert len(dc.calls("a.png", "GET")) == 2  # downloaded again from its (new) signed URL
