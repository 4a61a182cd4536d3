"""Self-test of FakeTelegram: the real python-telegram-bot Bot and Application against it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from telegram import Bot, BotCommand, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fakes.telegram import (
    BOT_USERNAME,
    MAX_DOWNLOAD_SIZE,
    FakeTelegram,
    parse_html,
    parse_markdown,
)

DATA = Path(__file__).parent / "data"
CHAT = 4242


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(
        token or fake.token,
        base_url=fake.base_url + "/bot",
        base_file_url=fake.base_url + "/file/bot",
    )


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake) as client:
        yield client


async def test_get_me_returns_the_bot_user(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (123456, True, "Avatar", BOT_USERNAME)
    assert me.can_join_groups and not me.can_read_all_group_messages
    assert fake.calls("getMe")[0].headers["User-Agent"].startswith("python-telegram-bot")


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(fake, token="999:wrong"):
            pass
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.base_url}/bot{fake.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(f"{fake.base_url}/botnope/getMe") as resp:
            assert (resp.status, (await resp.json())["description"]) == (401, "Unauthorized")


async def test_send_message_replies_and_is_recorded(bot: Bot, fake: FakeTelegram) -> None:
    asked = fake.push_text(CHAT, "hello")["message"]
    reply = await bot.send_message(
        CHAT, "hi there", reply_to_message_id=asked["message_id"], message_thread_id=None
    )
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "hello"
    assert reply.from_user is not None and reply.from_user.id == bot.id
    assert reply.message_id == asked["message_id"] + 1 and reply.chat.type == "private"
    [sent] = fake.sent(CHAT)
    assert (sent.method, sent.text, sent.reply_to) == (
        "sendMessage",
        "hi there",
        asked["message_id"],
    )


async def test_edit_message_text_and_not_modified(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_message(CHAT, "draft")
    edited = await bot.edit_message_text("final", chat_id=CHAT, message_id=message.message_id)
    assert not isinstance(edited, bool) and edited.text == "final" and edited.edit_date
    with pytest.raises(BadRequest, match="message is not modified: specified new message content"):
        await bot.edit_message_text("final", chat_id=CHAT, message_id=message.message_id)
    assert [s.method for s in fake.sent(CHAT)] == ["sendMessage", "editMessageText"]


async def test_429_raises_retry_after_for_one_chat_only(
    bot: Bot, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, PTB 22.x warns while building RetryAfter itself.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", 429, retry_after=3, chat_id=CHAT)
    await bot.send_message(CHAT + 1, "other chat is not throttled")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "throttled")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(CHAT, "fine again")
    assert [s.text for s in fake.sent(CHAT)] == ["fine again"]


async def test_blocked_user_raises_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "anyone there?")
    assert fake.sent(CHAT) == []


@pytest.mark.parametrize(
    ("text", "parse_mode"),
    [
        ("Done.", "MarkdownV2"),
        ("*bold", "MarkdownV2"),
        ("a `code", "MarkdownV2"),
        ("1+1=2", "MarkdownV2"),
        ("<b>bold", "HTML"),
        ("<foo>x</foo>", "HTML"),
        ("<b>x</i>", "HTML"),
    ],
)
async def test_broken_markup_cannot_parse_entities(bot: Bot, text: str, parse_mode: str) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(CHAT, text, parse_mode=parse_mode)


async def test_valid_markup_becomes_entities(bot: Bot) -> None:
    md = await bot.send_message(CHAT, "*Hi* _there_\\! [x](http://e\\.x)", parse_mode="MarkdownV2")
    assert md.text == "Hi there! x"
    assert [(e.type, e.offset, e.length) for e in md.entities] == [
        ("bold", 0, 2),
        ("italic", 3, 5),
        ("text_link", 10, 1),
    ]
    html = await bot.send_message(CHAT, "<b>😀 a</b> &lt;ok&gt;", parse_mode="HTML")
    assert html.text == "😀 a <ok>"
    assert [(e.type, e.offset, e.length) for e in html.entities] == [("bold", 0, 4)]


def test_markup_parsers_directly() -> None:
    assert parse_markdown("```python\nprint(1)```")[1] == [
        {"type": "pre", "offset": 0, "length": 8, "language": "python"}
    ]
    assert parse_markdown(">quoted\nplain")[1] == [{"type": "blockquote", "offset": 0, "length": 6}]
    assert parse_html('<a href="http://x">link</a>')[1] == [
        {"type": "text_link", "offset": 0, "length": 4, "url": "http://x"}
    ]


async def test_length_limits(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)message caption is too long"):
        await bot.send_video(CHAT, b"mp4", caption="c" * 1025)


async def test_send_video_upload_is_recorded(bot: Bot, fake: FakeTelegram) -> None:
    video = (DATA / "avatar.mp4").read_bytes()
    asked = fake.push_text(-100777, "topic q", message_thread_id=9)["message"]
    message = await bot.send_video(
        -100777,
        video,
        filename="avatar.mp4",
        caption="here you go",
        supports_streaming=True,
        reply_to_message_id=asked["message_id"],
        message_thread_id=9,
    )
    assert message.video is not None and message.video.file_size == len(video)
    assert message.caption == "here you go" and message.is_topic_message
    assert message.chat.is_forum and message.message_thread_id == 9
    [sent] = fake.sent(-100777, "sendVideo")
    assert (sent.video, sent.filename, sent.caption) == (video, "avatar.mp4", "here you go")
    assert (sent.supports_streaming, sent.reply_to, sent.thread_id) == (
        True,
        asked["message_id"],
        9,
    )


async def test_pushed_voice_downloads_through_get_file(bot: Bot, fake: FakeTelegram) -> None:
    audio = (DATA / "voice.ogg").read_bytes()
    voice = fake.push_voice(CHAT, audio, duration=2)["message"]["voice"]
    file = await bot.get_file(voice["file_id"])
    assert file.file_size == len(audio) and file.file_path
    assert bytes(await file.download_as_bytearray()) == audio
    assert fake.requests[-1].path.startswith(f"/file/bot{fake.token}/voice/")


async def test_get_file_over_20_mb_is_refused(bot: Bot, fake: FakeTelegram) -> None:
    voice = fake.push_voice(CHAT, b"tiny", file_size=MAX_DOWNLOAD_SIZE + 1)["message"]["voice"]
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await bot.get_file(voice["file_id"])


async def test_get_updates_offset_and_long_poll(bot: Bot, fake: FakeTelegram) -> None:
    ids = [fake.push_text(CHAT, f"m{n}")["update_id"] for n in range(3)]
    assert [u.update_id for u in await bot.get_updates()] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == ids[1:2]
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert await bot.get_updates(offset=ids[2] + 1) == ()
    poll = asyncio.create_task(bot.get_updates(offset=ids[2] + 1, timeout=10))
    await fake.wait_for(lambda: len(fake.calls("getUpdates")) == 5)
    pushed = fake.push_mention(-5, "what's up?")
    [update] = await asyncio.wait_for(poll, 2)
    assert update.update_id == pushed["update_id"] and update.message is not None
    assert update.message.parse_entities(["mention"]).popitem()[1] == f"@{BOT_USERNAME}"
    assert (
        await bot.get_updates(offset=update.update_id + 1, timeout=dtm.timedelta(seconds=0.05))
        == ()
    )


async def test_a_newer_get_updates_terminates_the_waiting_one(fake: FakeTelegram) -> None:
    async with make_bot(fake) as first, make_bot(fake) as second:
        waiting = asyncio.create_task(first.get_updates(timeout=10))
        await fake.wait_for(lambda: fake.calls("getUpdates"))
        assert await second.get_updates() == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(waiting, 2)


async def test_group_mentions_topics_and_replies_to_the_bot(bot: Bot, fake: FakeTelegram) -> None:
    mention = Update.de_json(fake.push_mention(-5, "😀 hi @avatar_test_bot!"), bot)
    assert mention.message is not None and mention.message.chat.type == "group"
    assert list(mention.message.parse_entities(["mention"]).values()) == [f"@{BOT_USERNAME}"]
    topic = fake.push_text(-1001234567890, "in a topic", message_thread_id=3)["message"]
    assert topic["chat"]["is_forum"] and topic["is_topic_message"]
    answer = await bot.send_message(-5, "hello group")
    reply = fake.push_reply_to_bot(-5, "thanks")["message"]
    assert reply["reply_to_message"]["message_id"] == answer.message_id
    assert reply["reply_to_message"]["from"]["id"] == bot.id
    assert await bot.delete_message(-5, answer.message_id)
    assert fake.message(-5, answer.message_id) is None


async def test_other_faults_and_raw_wire_formats(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendChatAction", 502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_chat_action(CHAT, "typing")
    fake.delay_next("getMe", 0.01)
    assert (await bot.get_me()).username == BOT_USERNAME
    root = f"{fake.base_url}/bot{fake.token}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{root}/SENDMESSAGE", params={"chat_id": "7", "text": "007"}) as resp:
            assert (await resp.json())["result"]["text"] == "007"
        async with http.post(f"{root}/sendMessage", json={"chat_id": 7, "text": "json"}) as resp:
            assert (await resp.json())["result"]["message_id"] == 2


async def test_commands_drafts_and_actions(bot: Bot, fake: FakeTelegram) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Say hello"), BotCommand("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert fake.commands[('{"type": "default"}', "")][0] == {
        "command": "start",
        "description": "Say hello",
    }
    assert await bot.send_message_draft(CHAT, draft_id=7, text="thinking")
    assert await bot.send_chat_action(CHAT, "record_video")
    draft, action = fake.sent(CHAT)
    assert (draft.method, draft.draft_id, draft.text) == ("sendMessageDraft", 7, "thinking")
    assert (action.method, action.action) == ("sendChatAction", "record_video")


async def test_application_polls_and_answers_a_pushed_text(fake: FakeTelegram) -> None:
    seen = asyncio.Event()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            f"echo: {update.effective_message.text}", do_quote=True
        )
        seen.set()

    app: Application = (  # type: ignore[type-arg]
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url + "/bot")
        .base_file_url(fake.base_url + "/file/bot")
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
        await app.start()
        fake.push_text(CHAT, "ping")
        await asyncio.wait_for(seen.wait(), 5)
        await app.updater.stop()
        await app.stop()
    [sent] = fake.sent(CHAT)
    assert (sent.text, sent.reply_to) == ("echo: ping", 1)
    assert fake.pending_updates == []  # the last getUpdates confirmed the handled update


async def test_a_server_older_than_a_method_answers_404_which_ptb_calls_invalid_token() -> None:
    async with FakeTelegram(without={"sendMessageDraft"}) as old:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{old.base_url}/bot{old.token}/sendMessageDraft") as resp:
                assert resp.status == 404
                assert await resp.json() == {
                    "ok": False,
                    "error_code": 404,
                    "description": "Not Found",
                }
        async with make_bot(old) as client:  # getMe works: the token is fine
            with pytest.raises(InvalidToken, match="Not Found"):
                await client.send_message_draft(CHAT, draft_id=1, text="thinking")


async def test_get_updates_conflicts_while_a_webhook_is_set(bot: Bot, fake: FakeTelegram) -> None:
    fake.push_text(CHAT, "pending")
    assert await bot.set_webhook("https://bot.example.com/hook")
    with pytest.raises(
        Conflict,
        match="^Conflict: can't use getUpdates method while webhook is active; use deleteWebhook",
    ):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=False)
    assert [u.message.text for u in await bot.get_updates(timeout=0) if u.message] == ["pending"]


async def test_group_permissions_refuse_like_telegram(bot: Bot, fake: FakeTelegram) -> None:
    fake.set_permissions(-5, can_send_videos=False)
    fake.push_text(-5, "hi", chat_type="supergroup")
    with pytest.raises(BadRequest, match="^Not enough rights to send videos to the chat$"):
        await bot.send_video(-5, b"\x00" * 10, filename="a.mp4")
    assert (await bot.send_message(-5, "text is still allowed")).text
    fake.set_permissions(-5, can_send_messages=False)
    with pytest.raises(BadRequest, match="^Not enough rights to send text messages to the chat$"):
        await bot.send_message(-5, "no more")
    await bot.send_video(CHAT, b"\x00" * 10, filename="a.mp4")  # a private chat has no such rules


async def test_a_held_upload_cut_before_it_completes_is_never_sent(fake: FakeTelegram) -> None:
    held = fake.hold_next("sendVideo")
    async with make_bot(fake) as client:
        upload = asyncio.create_task(client.send_video(CHAT, b"\x00" * 10, filename="a.mp4"))
        await asyncio.wait_for(held.arrived.wait(), 5)
        upload.cancel()  # the bot gives up (or dies): its connection closes mid-upload
        with contextlib.suppress(asyncio.CancelledError):
            await upload
        await asyncio.wait_for(held.cut.wait(), 5)
        held.release()
        again = fake.hold_next("sendVideo")
        sending = asyncio.create_task(client.send_video(CHAT, b"\x01" * 10, filename="b.mp4"))
        await asyncio.wait_for(again.arrived.wait(), 5)
        again.release()
        assert (await sending).video is not None
    assert [s.video for s in fake.sent(CHAT, "sendVideo")] == [b"\x01" * 10]


async def test_observers_see_each_call_as_it_arrives(bot: Bot, fake: FakeTelegram) -> None:
    seen: list[object] = []
    fake.observe("sendMessage", lambda params: seen.append(params["text"]))
    await bot.send_message(CHAT, "one")
    assert seen == ["one"]
