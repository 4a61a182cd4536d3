"""`avatarbot run` checks Groq and D-ID at start, in the background: one WARNING per service that
fails (a refused key, a retired model, no answer), and the bot runs on regardless."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot import check
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import running_bot, settings_for
from tests.processes import Children

# A log line as bot/logs.py writes it: "2026-01-01 12:00:00,000 WARNING name: message".
WARNING = " WARNING "


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def read_until(stream: asyncio.StreamReader, seen: list[str], needle: str) -> None:
    """Read stderr lines into `seen` until one contains `needle` (with a deadline)."""
    async with asyncio.timeout(15):
        while not any(needle in line for line in seen):
            line = await stream.readline()
            assert line, "avatarbot run ended:\n" + "".join(seen)
            seen.append(line.decode())


async def ask_on_the_web(port: int, text: str) -> dict[str, object]:
    """Send one message to the web chat and return the frame that ends its answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
    ):
        ready = await ws.receive_json(timeout=10)
        assert ready["state"] == "ready", ready
        await ws.send_json({"type": "text", "turn": "t1", "text": text})
        while True:
            frame: dict[str, object] = await ws.receive_json(timeout=10)
            if frame["turn"] == "t1" and frame["type"] in ("final", "error"):
                return frame


async def test_a_wrong_groq_key_is_one_warning_and_the_bot_runs_on(
    tmp_path: Path, groq: FakeGroq, children: Children
) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GROQ_API_KEY": "gsk_wrong_key_1234",
        "GROQ_BASE_URL": groq.base_url,
        "GROQ_MAX_RETRIES": "0",
        "DATABASE_PATH": str(tmp_path / "db" / "bot.db"),
        "WEB_ENABLED": "true",
        "WEB_PORT": str(port),
    }
    process = await children.start(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []
    await read_until(process.stderr, seen, "start-up check failed")
    assert any("web is running" in line for line in seen)  # the check did not hold up start
    # Still running: a web message is answered (with the line a refused key gives users).
    frame = await ask_on_the_web(port, "Hello")
    assert frame["type"] == "error" and "misconfigured" in json.dumps(frame)
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(15):
        rest = await process.stderr.read()
        assert await process.wait() == 0
    lines = "".join(seen).splitlines() + rest.decode().splitlines()
    warnings = [line for line in lines if WARNING in line]
    assert len(warnings) == 1, lines
    assert warnings[0].endswith("start-up check failed: groq: GROQ_API_KEY was refused")
    assert "gsk_wrong_key_1234" not in "\n".join(lines)


async def records_until(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The start-up checks' log lines, once `count` of them were logged (with a deadline)."""
    deadline = time.monotonic() + 10
    while (
        len(lines := [r.getMessage() for r in caplog.records if "start-up check" in r.msg]) < count
    ):
        assert time.monotonic() < deadline, lines
        await asyncio.sleep(0.01)
    return lines


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_retired_model_is_a_warning_naming_llm_model(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, caplog: pytest.LogCaptureFixture
) -> None:
    did.credits_remaining = 17
    settings = settings_for(tmp_path, groq, did, LLM_MODEL="llama3-8b-8192")
    with caplog.at_level(logging.INFO):
        async with running_bot(settings):
            lines = await records_until(caplog, 2)
    assert warnings(caplog) == [
        "start-up check failed: groq: not served by Groq: LLM_MODEL=llama3-8b-8192"
    ]
    assert "start-up check: d-id: ok — 17 credits left" in lines


async def test_all_is_well_no_warning(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, caplog: pytest.LogCaptureFixture
) -> None:
    did.credits_remaining = 17
    with caplog.at_level(logging.INFO):
        async with running_bot(settings_for(tmp_path, groq, did)):
            lines = await records_until(caplog, 2)
    assert sorted(lines) == [
        "start-up check: d-id: ok — 17 credits left",
        "start-up check: groq: ok — openai/gpt-oss-20b and whisper-large-v3-turbo are served",
    ]
    assert warnings(caplog) == []


async def test_a_check_that_hangs_is_a_warning_after_its_time(
    tmp_path: Path,
    groq: FakeGroq,
    did: FakeDID,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(check, "START_CHECK_SECONDS", 0.2)
    groq.delay_next("models", 60)  # Groq never answers the check
    with caplog.at_level(logging.INFO):
        async with running_bot(settings_for(tmp_path, groq, did)):
            await records_until(caplog, 2)
    assert warnings(caplog) == ["start-up check failed: groq: no answer within 0.2 s"]


async def test_stopping_cancels_a_check_still_running(
    tmp_path: Path, groq: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    groq.delay_next("models", 60)
    with caplog.at_level(logging.INFO):
        async with running_bot(settings_for(tmp_path, groq, None)):
            await groq.wait_for(lambda: bool(groq.calls("/models")))
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("start-check")]
    assert warnings(caplog) == []
