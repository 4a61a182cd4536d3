"""Logging: readable lines or one JSON object per line, a level, and no secret in any line."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Literal, TextIO

# httpx logs every request URL at INFO; Telegram's URLs contain the bot token.
_HANDLER_NAME = "avatarbot"
# discord.py logs interaction webhook URLs, which carry the interaction token, at DEBUG.
_CHATTY = ("httpx", "httpcore", "hpack", "aiosqlite", "discord.gateway", "discord.webhook")


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a record's final message with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now, redact it, and drop the arguments."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            message = message.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = message, None
        return True


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


def configure(
    level: str,
    secrets: Iterable[str],
    stream: TextIO | None = None,
    log_format: Literal["text", "json"] = "text",
) -> logging.Handler:
    """Log to `stream` (stderr) at `level`, redacting `secrets`; quiet libraries that leak URLs.

    `log_format` "json" writes one JSON object per line, for log collectors. Replaces a handler
    installed by an earlier call and returns the new one.
    """
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
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
