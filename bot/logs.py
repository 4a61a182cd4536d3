"""Logging: readable lines or one JSON object per line, a level, and no secret in any line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TextIO

from adapters.web.identity import tag

# httpx logs every request URL at INFO; Telegram's URLs contain the bot token.
_HANDLER_NAME = "avatarbot"
# discord.py logs interaction webhook URLs, which carry the interaction token, at DEBUG.
_CHATTY = ("httpx", "httpcore", "hpack", "aiosqlite", "discord.gateway", "discord.webhook")


# A web conversation's id is its only credential (its base alone carries it over): logged as a
# short hash of its base, whether as a conversation key (`web:<id>`, or its repr), a query
# parameter, a signed id (`<base>.<signature>`) or a message key (`<base>/<turn>`: "web message
# …" in the turn runner's lines, `turn-web-…` in its tasks' names).
_WEB_IDS = re.compile(
    r"(?P<key>\bweb:|platform='web', chat_id='|\bweb message |\bturn-web-)"
    r"(?P<base>[A-Za-z0-9_-]{8,64})(?:\.[A-Za-z0-9_-]{32})?(?![A-Za-z0-9_-])"
    r"|(?P<query>conversation=)(?P<qbase>[A-Za-z0-9_-]{8,64})(?:\.[A-Za-z0-9_-]{32})?"
    r"|(?<![A-Za-z0-9_.-])(?P<sbase>[A-Za-z0-9_-]{8,64})\.[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])"
)


def _hashed_id(match: re.Match[str]) -> str:
    prefix = match["key"] or match["query"] or ""
    return prefix + tag(match["base"] or match["qbase"] or match["sbase"])


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a record's final text with `***`, web ids with a hash."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too (secrets only known once the bot runs: keys from the database)."""
        found = {s for s in secrets if len(s) >= 4} | set(self._secrets)
        self._secrets = sorted(found, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now, redact it, and drop the arguments."""
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self._redact(record.getMessage()), None
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _WEB_IDS.sub(_hashed_id, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def redact_also(secrets: Iterable[str]) -> None:
    """Redact `secrets` in the log `configure` set up (for secrets read once the bot runs)."""
    values = list(secrets)
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER_NAME:
            for found in handler.filters:
                if isinstance(found, RedactingFilter):
                    found.add(values)


def configure(
    level: str,
    secrets: Iterable[str],
    stream: TextIO | None = None,
    log_format: Literal["text", "json"] = "text",
    path: Path | None = None,
) -> logging.Handler:
    """Log to `stream` (stderr) at `level`, redacting `secrets`; quiet libraries that leak URLs.

    `path`: append to this file instead (`avatarbot chat`, whose terminal is the conversation).
    `log_format` "json" writes one JSON object per line, for log collectors. Replaces (and
    closes) a handler installed by an earlier call and returns the new one.
    """
    handler: logging.Handler
    if path is not None:
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
