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
_LINK = re.compile(r'\[([^\]\n]+)\]\((https?://[^\s)"]+)\)')
# (pattern, opening tags, closing tags), applied in order: longer markers first.
_INLINE = [
    (re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*"), "<b><i>", "</i></b>"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), "<b>", "</b>"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), "<b>", "</b>"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), "<i>", "</i>"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"), "<i>", "</i>"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), "<s>", "</s>"),
]
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_TAG = re.compile(r"<(/?)(\w+)[^>]*>")


def to_html(markdown: str) -> str:
    """Render the Markdown a model writes as the HTML subset Telegram accepts.

    The model's text is escaped first, so any HTML it writes shows as text. Telegram refuses a
    whole message whose tags overlap, so markers that would cross a tag stay as they are.
    """
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
    # Only http(s) links become links: a model's javascript: or tg: link stays plain text.
    text = _LINK.sub(lambda m: keep(f'<a href="{m.group(2)}">{_inline(m.group(1))}</a>'), text)
    text = _HEADING.sub(r"<b>\1</b>", text)
    text = _BULLET.sub(r"\1• ", text)
    text = _inline(text)
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _inline(text: str) -> str:
    for pattern, opening, closing in _INLINE:

        def tag(match: re.Match[str], opening: str = opening, closing: str = closing) -> str:
            inner = match.group(1)
            return f"{opening}{inner}{closing}" if _balanced(inner) else match.group(0)

        text = pattern.sub(tag, text)
    return text


def _balanced(fragment: str) -> bool:
    """Whether every tag opened in `fragment` is closed in it, in order."""
    opened: list[str] = []
    for closing, name in _TAG.findall(fragment):
        if not closing:
            opened.append(name)
        elif not opened or opened.pop() != name:
            return False
    return not opened


def split(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at natural boundaries so each part fits Telegram's limit."""
    return text_limits.split(text, limit, utf16_len)


def truncate(text: str, limit: int) -> str:
    """Shorten `text` to `limit` UTF-16 units, ending with an ellipsis when cut."""
    return text_limits.truncate(text, limit, utf16_len)
