"""Model Markdown to Telegram HTML, and long answers split to fit a message."""

from __future__ import annotations

import html
import re

from core import text as text_limits
from core.text import utf16_len

__all__ = ["CAPTION_LIMIT", "MESSAGE_LIMIT", "split", "to_html", "truncate", "utf16_len"]

# Telegram caps a message at 4096 characters after entity parsing (counted in UTF-16 units).
MESSAGE_LIMIT = 4096
# Telegram caps a media caption at 1024 characters.
CAPTION_LIMIT = 1024

_FENCE = re.compile(r"```([\w+-]*)\n?(.*?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_INLINE = [
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"<b>\1</b>"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"<i>\1</i>"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"), r"<i>\1</i>"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"<s>\1</s>"),
    (re.compile(r'\[([^\]\n]+)\]\((https?://[^\s)"]+)\)'), r'<a href="\2">\1</a>'),
]
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)


def to_html(markdown: str) -> str:
    """Render the Markdown a model writes as the HTML subset Telegram accepts."""
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    def fence(match: re.Match[str]) -> str:
        language, body = match.group(1), html.escape(match.group(2).rstrip("\n"), quote=False)
        attribute = f' class="language-{language}"' if language else ""
        return keep(f"<pre><code{attribute}>{body}</code></pre>")

    text = _FENCE.sub(fence, markdown)
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(m.group(1), quote=False)}</code>"), text)
    text = html.escape(text, quote=False)
    text = _HEADING.sub(r"<b>\1</b>", text)
    text = _BULLET.sub(r"\1• ", text)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


def split(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at natural boundaries so each part fits Telegram's limit."""
    return text_limits.split(text, limit, utf16_len)


def truncate(text: str, limit: int) -> str:
    """Shorten `text` to `limit` UTF-16 units, ending with an ellipsis when cut."""
    return text_limits.truncate(text, limit, utf16_len)
