"""`LOG_FORMAT=json`: one JSON object per line, redacted like the text log."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import logs
from tests.processes import child

SECRET = "gsk_json-log-secret-0123456789"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and levels put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs._CHATTY}
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def entries(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert lines and all(line.startswith("{") for line in lines), text
    return [json.loads(line) for line in lines]


def test_each_record_is_one_json_line_with_the_exception_and_no_secret(
    root_logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    logs.configure("INFO", [SECRET], stream, log_format="json")
    log = logging.getLogger("avatarbot.test")
    log.info("calling %s with key %s", "https://api.groq.com", SECRET)
    log.warning("two lines\nand ünïcode 🎬")
    log.debug("below the level")
    try:
        raise RuntimeError(f"Groq refused {SECRET}")
    except RuntimeError:
        log.exception("turn crashed")

    text = stream.getvalue()
    assert SECRET not in text
    first, second, crashed = entries(text)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "avatarbot.test"
    assert first["message"] == "calling https://api.groq.com with key ***"
    assert dt.datetime.fromisoformat(first["time"]).utcoffset() == dt.timedelta(0)
    assert second["message"] == "two lines\nand ünïcode 🎬"
    assert crashed["level"] == "ERROR" and crashed["message"] == "turn crashed"
    assert crashed["exception"].startswith("Traceback (most recent call last):")
    assert crashed["exception"].endswith("RuntimeError: Groq refused ***")


def test_text_stays_the_default(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    logs.configure("INFO", [SECRET], stream)
    logging.getLogger("avatarbot.test").info("key %s", SECRET)
    line = stream.getvalue().rstrip("\n")
    assert line.endswith(" INFO avatarbot.test: key ***") and not line.startswith("{")


async def test_the_command_logs_json_lines_when_asked(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GROQ_API_KEY": SECRET,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "LOG_FORMAT": "json",
    }
    async with child(
        sys.executable, "-m", "bot", "migrate", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, err
    assert "applied: 0001_initial.sql" in out.decode()
    lines = entries(err.decode())
    assert any(e["logger"] == "core.storage.sqlite" and e["level"] == "INFO" for e in lines)
    assert SECRET not in err.decode()
