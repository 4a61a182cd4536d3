"""Telegram webhook mode: updates POSTed to the web server, refused without the secret token."""

import asyncio
import io
import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from adapters.telegram.webhook import MAX_BODY, derived_secret
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

CHAT = 1001

GROQ_REPLY = "Hello over the webhook."  # what the fake model answers (tests/conftest.py)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_updates_arrive_by_webhook_and_need_the_secret(
    tmp_path: Path, groq: FakeGroq
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path,
            groq,
            None,
            **telegram_at(tg),
            TELEGRAM_WEBHOOK_URL=url,
            WEB_ENABLED=True,
            WEB_PORT=port,
        )
        async with running_bot(settings):
            await tg.wait_for(lambda: tg.webhook is not None)
            assert tg.webhook is not None and tg.webhook["url"] == url
            assert tg.webhook["secret_token"] == derived_secret(tg.token)
            assert not tg.calls("getUpdates")  # no polling in webhook mode
            forged = tg.push_text(CHAT, "let me in", user_id=CHAT)
            assert await _post(tg, forged, secret="") == 403
            assert await _post(tg, forged, secret="wrong") == 403
            update = tg.push_text(CHAT, "hello", user_id=CHAT)
            assert await _post(tg, update) == 200
            assert await _post(tg, update) == 200  # Telegram redelivers: answered once
            await tg.wait_for_sent(CHAT, "sendMessage")
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["Hello over the webhook."]
    assert [b["messages"][-1]["content"] for b in groq.chat_bodies] == ["hello"]


async def _post(tg: FakeTelegram, update: dict[str, object], secret: str | None = None) -> int:
    # The web server may still be binding right after setWebhook (Telegram retries too):
    # poll with a deadline.
    async with asyncio.timeout(5):
        while True:
            try:
                return await tg.post_to_webhook(update, secret=secret)
            except OSError:
                await asyncio.sleep(0.01)


def test_webhook_needs_the_web_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from bot.settings import Settings
    from bot.settings_errors import describe

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(
            {
                "GROQ_API_KEY": "k",
                "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/hook",
                "WEB_ENABLED": False,
            }
        )
    assert "set WEB_ENABLED=true" in describe(caught.value)


async def _post_raw(url: str, body: bytes, secret: str) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=io.BytesIO(body), headers=headers) as reply:
            return reply.status


async def test_bodies_that_are_not_updates_are_refused_without_a_traceback(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    not_updates = [
        b"[]",
        b'"x"',
        b"null",
        b'{"update_id": "x"}',
        b'{"update_id": true}',
        b"[" * 100_000,  # nested too deeply for any JSON parser
        b'{"update_id": 7, "message": {"reply_to_message": ' * 300 + b"{}" + b"}}" * 300,
        b'{"update_id": 8, "message": []}',
        b"{not json",
        b"\xff\xfe",
    ]
    async with FakeTelegram() as tg:
        settings = settings_for(
            tmp_path, groq, None, **telegram_at(tg), TELEGRAM_WEBHOOK_URL=url, WEB_ENABLED=True,
            WEB_PORT=port,
        )  # fmt: skip
        async with running_bot(settings):
            await tg.wait_for(lambda: tg.webhook is not None)
            secret = derived_secret(tg.token)
            await _post(tg, tg.push_text(CHAT, "first", user_id=CHAT))  # the server is up
            with caplog.at_level(logging.INFO):
                statuses = [await _post_raw(url, body, secret) for body in not_updates]
                too_big = b'{"update_id": 9, "pad": "' + b"a" * (MAX_BODY + 1) + b'"}'
                assert await _post_raw(url, too_big, secret) == 413
            assert statuses == [400] * len(not_updates)
            assert await _post(tg, tg.push_text(CHAT, "still there?", user_id=CHAT)) == 200
            await tg.wait_for(lambda: len(tg.sent(CHAT, "sendMessage")) == 2)
    assert [b["messages"][-1]["content"] for b in groq.chat_bodies] == ["first", "still there?"]
    assert caplog.text.count("refused a webhook request") == len(not_updates) + 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
