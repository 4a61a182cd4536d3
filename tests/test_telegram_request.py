"""AiohttpRequest: python-telegram-bot's calls, uploads and downloads over aiohttp."""

import ast
import asyncio
import contextlib
import json
import socket
from pathlib import Path

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from adapters.telegram.request import AiohttpRequest, UpdatesRequest
from tests.fakes.telegram import FakeTelegram

CHAT = 4242


def bot_on(root: str, token: str, request: AiohttpRequest) -> Bot:
    return Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot", request=request)


async def test_calls_send_their_parameters_and_parse_the_answer(tg: FakeTelegram) -> None:
    async with bot_on(tg.base_url, tg.token, AiohttpRequest()) as bot:
        message = await bot.send_message(CHAT, "Héllo <b>there</b> 🙂", parse_mode="HTML")
        assert message.chat_id == CHAT
    (sent,) = tg.sent(CHAT, "sendMessage")
    assert (sent.text, sent.parse_mode) == ("Héllo <b>there</b> 🙂", "HTML")
    assert sent.message_id == message.message_id


async def test_parameters_go_as_a_urlencoded_form_of_json_values(tg: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A & B = ?", callback_data="x+y")]])
    async with bot_on(tg.base_url, tg.token, AiohttpRequest()) as bot:
        await bot.send_message(CHAT, "1 + 1 = 2 & 50% off?", reply_markup=keyboard)
    (call,) = [r for r in tg.requests if r.api_method == "sendMessage"]
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.form is not None and call.form["text"] == "1 + 1 = 2 & 50% off?"
    button = json.loads(call.form["reply_markup"])["inline_keyboard"][0][0]
    assert button == {"text": "A & B = ?", "callback_data": "x+y"}


async def test_the_updates_connection_keeps_each_update_as_telegram_sent_it(
    tg: FakeTelegram,
) -> None:
    sent = [tg.push_text(CHAT, "hello"), tg.push_text(CHAT + 1, "/start")]
    updates_request = UpdatesRequest()
    bot = Bot(
        tg.token,
        base_url=f"{tg.base_url}/bot",
        request=AiohttpRequest(),
        get_updates_request=updates_request,
    )
    async with bot:
        updates = await bot.get_updates(timeout=0)
    # The very JSON (keys in Telegram's order), not PTB's re-serialisation of its objects.
    assert [updates_request.payload(update) for update in updates] == [
        json.dumps(update) for update in sent
    ]
    assert json.dumps(updates[0].to_dict()) != json.dumps(sent[0])
    # An update it did not receive is serialised by PTB.
    assert json.loads(updates_request.payload(updates[0])) == updates[0].to_dict()


async def test_uploads_and_downloads_carry_the_bytes(tg: FakeTelegram) -> None:
    video = bytes(range(256)) * 64
    voice = tg.add_file(b"OggS" + bytes(1000), kind="voice", ext="oga")
    async with bot_on(tg.base_url, tg.token, AiohttpRequest()) as bot:
        await bot.send_video(CHAT, video, filename="avatar-1.mp4", caption="🎬 hi")
        file = await bot.get_file(voice["file_id"])
        downloaded = await file.download_as_bytearray()
    (sent,) = tg.sent(CHAT, "sendVideo")
    assert (sent.video, sent.filename, sent.caption) == (video, "avatar-1.mp4", "🎬 hi")
    assert bytes(downloaded) == b"OggS" + bytes(1000)


async def test_a_video_over_a_mebibyte_uploads_without_a_resource_warning(
    tg: FakeTelegram,
) -> None:
    # aiohttp warns on raw bytes over 1 MiB; warnings are errors here. D-ID's videos are larger.
    video = bytes(range(256)) * (5 * 4096)  # 5 MiB
    async with bot_on(tg.base_url, tg.token, AiohttpRequest()) as bot:
        await bot.send_video(CHAT, video, filename="avatar-2.mp4", write_timeout=30)
    (sent,) = tg.sent(CHAT, "sendVideo")
    assert sent.video == video


async def test_a_slow_answer_is_timed_out(tg: FakeTelegram) -> None:
    tg.delay_next("sendMessage", 2.0)
    async with bot_on(tg.base_url, tg.token, AiohttpRequest()) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "hello", read_timeout=0.1)


async def test_an_unreachable_server_is_a_network_error(tg: FakeTelegram) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    request = AiohttpRequest()
    await request.initialize()
    bot = bot_on(closed, tg.token, request)
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "hello")
    await request.shutdown()


async def test_a_request_works_again_after_a_shutdown(tg: FakeTelegram) -> None:
    request = AiohttpRequest()
    async with bot_on(tg.base_url, tg.token, request) as bot:
        await bot.send_message(CHAT, "one")
    async with bot_on(tg.base_url, tg.token, request) as bot:
        await bot.send_message(CHAT, "two")
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["one", "two"]


async def test_the_pool_timeout_does_not_bound_opening_a_connection(tg: FakeTelegram) -> None:
    # PTB's pool timeout is only the wait for a free slot; connecting has its own 5 s.
    request = AiohttpRequest(pool_timeout=1e-9)
    async with bot_on(tg.base_url, tg.token, request) as bot:
        await bot.send_message(CHAT, "over a new connection")
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["over a new connection"]


async def test_a_full_pool_times_out_without_sending(tg: FakeTelegram) -> None:
    held = tg.hold_next("sendMessage")
    async with bot_on(tg.base_url, tg.token, AiohttpRequest(1, pool_timeout=0.1)) as bot:
        first = asyncio.create_task(bot.send_message(CHAT, "first"))
        try:
            await asyncio.wait_for(held.arrived.wait(), 5)
            with pytest.raises(TimedOut, match="Pool timeout.*not\\* sent"):
                await bot.send_message(CHAT, "second")
        finally:
            held.release()
            await first
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["first"]


async def test_opening_a_connection_is_bounded_by_the_connect_timeout(tg: FakeTelegram) -> None:
    # A server whose accept queue is full never completes the TCP handshake.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        root = f"http://127.0.0.1:{server.getsockname()[1]}"
        queued = [socket.socket() for _ in range(3)]
        try:
            for client in queued:
                client.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    client.connect(server.getsockname())
            request = AiohttpRequest(connect_timeout=0.2)
            await request.initialize()
            try:
                async with asyncio.timeout(3):  # well before the 5 s default
                    with pytest.raises(TimedOut):
                        await bot_on(root, tg.token, request).send_message(CHAT, "hello")
            finally:
                await request.shutdown()
        finally:
            for client in queued:
                client.close()


def test_the_adapter_imports_nothing_private() -> None:
    folder = Path(__file__).parent.parent / "adapters" / "telegram"
    private = []
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            private += [f"{path.name}: {name}" for name in names if _is_private(name)]
    assert private == []


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split(".") if part != "__future__")
