"""The web chat and the Telegram webhook reachable by others: origins, sessions, the start-up
check, what the database and the log keep, and frames built to hurt the parser."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram.webhook import derived_secret
from adapters.web import audio_frames, text_frames
from adapters.web.app import WebAdapter
from adapters.web.identity import tag
from bot import logs
from bot.run import configured_adapters, web_exposure_problem
from bot.settings import Settings
from bot.wiring import open_core
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

GROQ_REPLY = "Hello there."
TOKEN = "exposure-test-token-0123456789"
PROXY = {"WEB_TRUSTED_PROXIES": "127.0.0.1/32"}
CHAT = 1001


@asynccontextmanager
async def web_for(tmp_path: Path, groq: FakeGroq, **settings: Any) -> AsyncIterator[WebAdapter]:
    """The web adapter `avatarbot run` builds from these settings, serving on a free port."""
    config = settings_for(tmp_path, groq, None, WEB_ENABLED=True, WEB_PORT=0, **settings)
    (factory,) = configured_adapters(config)
    async with open_core(config) as core:
        adapter = factory(core)
        assert isinstance(adapter, WebAdapter)
        await core.start_jobs({"web": adapter.delivery})
        await adapter.start()
        try:
            yield adapter
        finally:
            await stop(adapter)


async def stop(web: WebAdapter) -> None:
    """Stop as `avatarbot run` does: the runner drains (with no grace here), then the adapter."""
    await web.runner.drain(0)
    await web.stop()


async def handshake(web: WebAdapter, headers: dict[str, str]) -> int:
    """The HTTP status of a WebSocket upgrade with these headers (101 when it opened)."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(f"http://127.0.0.1:{web.port}/ws", headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        ready = await ws.receive_json(timeout=5)
        await ws.close()
        assert ready["state"] == "ready"
        return 101


# -- origins -----------------------------------------------------------------------------------


async def test_a_socket_from_another_origin_is_refused_before_the_upgrade(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    allowed = {"WEB_ALLOWED_ORIGINS": "https://chat.example.com"}
    async with web_for(tmp_path, groq, **allowed) as web:
        own = f"http://127.0.0.1:{web.port}"
        assert await handshake(web, {"Origin": own}) == 101
        assert await handshake(web, {}) == 101  # no Origin: not a browser, no page behind it
        assert await handshake(web, {"Origin": "https://chat.example.com"}) == 101
        for origin in (
            "https://evil.example",
            "http://127.0.0.1:1",  # same site, another port: cookies are shared, origins not
            f"https://127.0.0.1:{web.port}",
            "null",
        ):
            assert await handshake(web, {"Origin": origin}) == 403, origin
        # Forwarded Host and Proto are believed from a trusted proxy only.
        proxied = {"X-Forwarded-Host": "bot.example.com", "X-Forwarded-Proto": "https"}
        assert await handshake(web, {"Origin": "https://bot.example.com", **proxied}) == 403
    assert "WEB_TRUSTED_PROXIES" in caplog.text and "WEB_ALLOWED_ORIGINS" in caplog.text
    async with web_for(tmp_path / "proxied", groq, **PROXY) as web:
        assert await handshake(web, {"Origin": "https://bot.example.com", **proxied}) == 101
        assert await handshake(web, {"Origin": f"http://127.0.0.1:{web.port}", **proxied}) == 403


@pytest.mark.parametrize("trusted", [False, True])
async def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy(
    tmp_path: Path, groq: FakeGroq, trusted: bool
) -> None:
    settings = {"WEB_AUTH_TOKEN": TOKEN, **(PROXY if trusted else {})}
    async with web_for(tmp_path, groq, **settings) as web, aiohttp.ClientSession() as session:
        headers = {"X-Forwarded-Proto": "https"}
        url = f"http://127.0.0.1:{web.port}/?token={TOKEN}"
        async with session.get(url, headers=headers) as response:
            cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("avatarbot_session=") and TOKEN not in cookie
    assert ("Secure" in cookie) is trusted


# -- starting exposed --------------------------------------------------------------------------


def avatarbot_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "avatarbot"
    base = {"PATH": os.environ["PATH"], "GROQ_API_KEY": "gsk_unused", "WEB_PORT": "0"}
    base["DATABASE_PATH"] = str(tmp_path / "data" / "avatarbot.db")
    return subprocess.run(
        [str(script), "run"],
        env=base | env,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_refuses_to_listen_beyond_loopback_without_a_long_token(tmp_path: Path) -> None:
    for token in ("", "short-token"):
        done = avatarbot_run(tmp_path, WEB_HOST="0.0.0.0", WEB_AUTH_TOKEN=token)
        assert done.returncode == 2
        (line,) = done.stderr.splitlines()
        assert line.startswith("avatarbot: WEB_HOST=0.0.0.0")
        assert "WEB_AUTH_TOKEN (at least 16 characters)" in line and "WEB_PUBLIC=true" in line
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_what_counts_as_exposed(tmp_path: Path) -> None:
    def problem(**values: Any) -> str | None:
        settings = Settings.model_validate({"GROQ_API_KEY": "k", **values})
        return web_exposure_problem(settings)

    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"):
        assert problem(WEB_HOST=host) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.5", "bot.example.com"):
        assert problem(WEB_HOST=host) is not None, host
    assert problem(WEB_HOST="0.0.0.0", WEB_PUBLIC=True) is None
    assert problem(WEB_HOST="0.0.0.0", WEB_AUTH_TOKEN="x" * 16) is None
    assert problem(WEB_HOST="0.0.0.0", WEB_AUTH_TOKEN="x" * 15) is not None
    assert problem(WEB_HOST="0.0.0.0", WEB_ENABLED=False) is None


# -- what is kept ------------------------------------------------------------------------------


def wav_of(size: int, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(size - 44))
    return out.getvalue()


def inbox_rows(database: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT state, payload, length(payload) FROM inbox").fetchall()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


async def test_a_25_mb_voice_message_leaves_no_bytes_in_the_database(
    tmp_path: Path, groq: FakeGroq
) -> None:
    audio = wav_of(audio_frames.MAX_AUDIO_BYTES - 1024)  # 13 minutes of silence: under every limit
    frame = json.dumps(
        {
            "type": "audio",
            "turn": "v1",
            "mime": "audio/wav",
            "data": base64.b64encode(audio).decode(),
        }
    )
    database = tmp_path / "data" / "avatarbot.db"
    attachments = tmp_path / "data" / "media" / "inbox"
    async with web_for(tmp_path, groq) as web, aiohttp.ClientSession() as session:
        gate = groq.hold()
        async with session.ws_connect(f"http://127.0.0.1:{web.port}/ws") as ws:
            await ws.receive_json(timeout=5)
            await ws.send_str(frame)
            assert (await ws.receive_json(timeout=30))["type"] == "transcript"
            ((state, payload, length),) = inbox_rows(database)  # recorded, being answered
            assert state == "received" and length < 500 and "attachment" in json.loads(payload)
            assert [p.stat().st_size for p in attachments.iterdir()] == [len(audio)]
            gate.set()
            while (await ws.receive_json(timeout=10))["type"] != "final":
                pass
            async with asyncio.timeout(5):  # marked answered right after the final text
                while inbox_rows(database)[0][0] != "answered":  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    ((state, payload, length),) = inbox_rows(database)
    assert length < 500 and "audio" not in json.loads(payload)
    assert not list(attachments.iterdir())  # the recording is deleted with the answer
    stored = sum(f.stat().st_size for f in database.parent.glob("avatarbot.db*"))
    assert stored < 2 * 1024 * 1024


@pytest.mark.parametrize("lost", [False, True])
async def test_a_voice_message_cut_by_a_stop_is_answered_from_its_file_after_the_restart(
    tmp_path: Path, groq: FakeGroq, lost: bool
) -> None:
    database = tmp_path / "data" / "avatarbot.db"
    attachments = tmp_path / "data" / "media" / "inbox"
    voice = base64.b64encode(wav_of(64_000)).decode()
    quick = {"SHUTDOWN_GRACE_SECONDS": 0}
    async with web_for(tmp_path, groq, **quick) as web, aiohttp.ClientSession() as session:
        groq.hold()
        async with session.ws_connect(f"http://127.0.0.1:{web.port}/ws") as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"type": "audio", "turn": "v1", "mime": "audio/wav", "data": voice})
            assert (await ws.receive_json(timeout=5))["type"] == "transcript"
            await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
            await stop(web)  # the turn is cancelled mid-answer: still unanswered
    groq.release()
    (recording,) = attachments.iterdir()
    if lost:
        recording.unlink()
    async with web_for(tmp_path, groq, **quick):  # replays what was left
        async with asyncio.timeout(5):
            while inbox_rows(database)[0][0] != "answered":  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert not list(attachments.iterdir())
    assert len(groq.calls("/audio/transcriptions")) == (1 if lost else 2)
    assert len(groq.chat_bodies) == (1 if lost else 2)


# -- frames built to hurt ----------------------------------------------------------------------


async def test_deep_nesting_and_huge_frames_get_one_line_and_no_traceback(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with web_for(tmp_path, groq) as web, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{web.port}/ws"
        async with session.ws_connect(url) as ws:
            await ws.receive_json(timeout=5)
            for frame in (
                "[" * 100_000,
                '{"type": "text", "turn": "d1", "text": ' + "[" * 50_000 + "]" * 50_000 + "}",
            ):
                await ws.send_str(frame)
                error = await ws.receive_json(timeout=10)
                assert (error["type"], error["code"]) == ("error", "bad_frame")
                assert error["message"] == text_frames.TOO_DEEP
            await ws.send_str('{"a": ' * 2_000_000)  # 12 MB, no base64: refused unparsed
            error = await ws.receive_json(timeout=10)
            assert (error["type"], error["code"]) == ("error", "too_long")
            await ws.send_json({"type": "text", "turn": "ok", "text": "still there?"})
            while (answer := await ws.receive_json(timeout=5))["type"] != "final":
                pass
            assert answer["turn"] == "ok"
        async with session.ws_connect(url, max_msg_size=0) as ws:
            await ws.receive_json(timeout=5)
            try:  # refused at the frame's header: the server may close while this still writes
                await ws.send_str("A" * (audio_frames.MAX_FRAME_BYTES + 1))
            except ConnectionError:
                pass
            closing = await ws.receive(timeout=10)
            if closing.type is aiohttp.WSMsgType.CLOSE:  # the page shows a line for 1009
                assert closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            else:
                assert closing.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


# -- the log -----------------------------------------------------------------------------------


class Capture:
    """The log at DEBUG as `avatarbot` writes it (bot.logs.configure), restored afterwards."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self._handler: logging.Handler | None = None
        self._levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}

    def configure(self, settings: Settings) -> None:
        self._handler = logs.configure("DEBUG", settings.secrets(), self.stream)

    def restore(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
        for name, level in self._levels.items():
            logging.getLogger(name or None).setLevel(level)

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def log() -> Iterator[Capture]:
    capture = Capture()
    yield capture
    capture.restore()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_webhook_secret_is_not_logged_and_a_forged_update_is_refused(
    tmp_path: Path, groq: FakeGroq, log: Capture
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
        log.configure(settings)
        secret = derived_secret(tg.token)
        async with running_bot(settings):
            await tg.wait_for(lambda: tg.webhook is not None)
            assert tg.webhook is not None and tg.webhook["secret_token"] == secret
            forged = tg.push_text(CHAT, "let me in", user_id=CHAT)
            for wrong in ("", "wrong", secret[:-1]):
                assert await _post(tg, forged, secret=wrong) == 403
            conversation = await _web_turn_that_fails(port, groq)
            assert await _post(tg, tg.push_text(CHAT, "hello", user_id=CHAT)) == 200
            await tg.wait_for_sent(CHAT, "sendMessage")
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == [GROQ_REPLY]  # none for the forgery
    assert "setWebhook" in log.text  # PTB logged the call with its parameters, redacted
    assert secret not in log.text and tg.token not in log.text
    assert conversation not in log.text and f"web:{tag(conversation)}" in log.text


async def _web_turn_that_fails(port: int, groq: FakeGroq) -> str:
    """A web turn the core logs (with the conversation's key) as failed; its conversation."""
    groq.fail_next("chat/completions", 400, body={"error": {"message": "bad", "type": "x"}})
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
    ):
        ready = await ws.receive_json(timeout=5)
        await ws.send_json({"type": "text", "turn": "t1", "text": "hi"})
        while (await ws.receive_json(timeout=5))["type"] != "error":
            pass
    return str(ready["conversation"]).partition(".")[0]


async def _post(tg: FakeTelegram, update: dict[str, object], secret: str | None = None) -> int:
    # The web server may still be binding right after setWebhook: poll with a deadline.
    async with asyncio.timeout(5):
        while True:
            try:
                return await tg.post_to_webhook(update, secret=secret)
            except OSError:
                await asyncio.sleep(0.01)
