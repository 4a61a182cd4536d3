"""Helpers to run the real core against the local fakes and read what a user would see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from adapters.web.app import WebAdapter
from bot.settings import Settings
from bot.terminal import TerminalChat, TerminalDelivery
from bot.wiring import Core, open_core
from core.replies import ReplyModes
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram


def settings_for(tmp_path: Path, groq: FakeGroq, did: FakeDID | None, **overrides: Any) -> Settings:
    """Settings that point every client at the fakes and poll renders quickly."""
    values: dict[str, Any] = {
        "GROQ_API_KEY": groq.api_key,
        "GROQ_BASE_URL": groq.base_url,
        "GROQ_MAX_RETRIES": 2,
        "GROQ_TIMEOUT_SECONDS": 5,
        "DATABASE_PATH": tmp_path / "data" / "avatarbot.db",
        "DID_POLL_FIRST_SECONDS": 0.01,
        "DID_POLL_INTERVAL_SECONDS": 0.01,
        "DID_RENDER_TIMEOUT_SECONDS": 5,
        "AVATAR_IMAGE_URL": "https://example.com/face.jpg",
        "WEB_ENABLED": False,
        # Limits are off unless a test sets them (tests/test_limits.py does).
        "AVATAR_DAILY_LIMIT_PER_USER": None,
        "AVATAR_DAILY_LIMIT_TOTAL": None,
        "AVATAR_DAILY_SECONDS_PER_USER": None,
        "AVATAR_DAILY_SECONDS_TOTAL": None,
        "USER_MESSAGES_PER_MINUTE": None,
        "MESSAGES_DAILY_LIMIT_TOTAL": None,
    }
    if did is not None:
        values |= {"DID_API_KEY": did.api_key, "DID_API_BASE_URL": did.base_url}
    values |= overrides
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def telegram_at(tg: FakeTelegram) -> dict[str, str]:
    """The settings that point the bot at fake Telegram."""
    return {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE_URL": tg.base_url}


class Screen:
    """What the terminal user sees, with a way to wait for a line to appear."""

    def __init__(self) -> None:
        self.text = ""
        self._changed = asyncio.Event()

    def write(self, text: str) -> None:
        self.text += text
        self._changed.set()

    async def wait_for(self, needle: str, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while self.text.count(needle) < count:
                self._changed.clear()
                await self._changed.wait()

    def take(self) -> str:
        """Return what appeared since the last take, and start afresh."""
        text, self.text = self.text, ""
        return text


@asynccontextmanager
async def terminal(settings: Settings) -> AsyncIterator[tuple[TerminalChat, Screen, Core]]:
    """The terminal chat wired to the real core, as `avatarbot chat` wires it."""
    screen = Screen()
    async with open_core(settings) as core:
        await core.start_jobs({"terminal": TerminalDelivery(screen.write)})
        yield TerminalChat(core, screen.write), screen, core


@asynccontextmanager
async def running_bot(
    settings: Settings, reply_mode: ReplyModes | None = None
) -> AsyncIterator[None]:
    """`avatarbot run` as a task: every configured adapter on one core, stopped at exit.

    `reply_mode(key)`: each chat's choice of what follows an answer (None: the chat's /reply).
    """
    from bot.run import configured_adapters, serve

    stop = asyncio.Event()
    bot = serve(settings, stop, configured_adapters(settings), reply_mode=reply_mode)
    task = asyncio.create_task(bot, name="bot")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def serving_web(core: Core, secret: str, **options: Any) -> AsyncIterator[WebAdapter]:
    """The web chat's adapter on the wired core, on a free loopback port, with its jobs started.

    `options` go to `WebAdapter` (access, live, faces…). On exit the turns drain and the
    adapter stops, as `avatarbot run` stops.
    """
    adapter = WebAdapter(
        core.conversations,
        core.runner,
        commands=core.commands,
        inbox=core.inbox,
        host="127.0.0.1",
        port=0,
        secret=secret,
        media_dir=core.settings.media_dir,
        max_text_chars=core.settings.MAX_MESSAGE_CHARS,
        history=core.storage.history,
        **{"catalogs": core.catalogs, **options},
    )
    await core.start_jobs({"web": adapter.delivery})
    await adapter.start()
    try:
        yield adapter
    finally:
        await core.runner.drain(0)
        await adapter.stop()


async def web_listening(session: aiohttp.ClientSession, port: int) -> None:
    """Return once the web server on `port` answers /healthz (polled, with a 10 s deadline)."""
    async with asyncio.timeout(10):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
