"""Splitting answers to fit a platform's message limit, at natural boundaries."""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int, measure: Measure) -> int:
    """Return how many characters of `text` fit in `limit`."""
    if measure is len:
        return min(len(text), limit)
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def split(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Split at paragraph, line, sentence or word boundaries so that each part fits `limit`."""
    parts: list[str] = []
    rest = text.strip()
    while measure(rest) > limit:
        window = rest[: _fit(rest, limit, measure)]
        cut = _best_cut(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _best_cut(window: str) -> int:
    floor = len(window) // 3  # never leave a tiny first part
    for separator in ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " "):
        at = window.rfind(separator)
        if at > floor:
            return at + len(separator)
    return max(len(window), 1)


def truncate(text: str, limit: int, measure: Measure = len) -> str:
    """Shorten `text` to fit `limit`, ending with an ellipsis when it was cut."""
    if measure(text) <= limit:
        return text
    return text[: _fit(text, limit - 1, measure)].rstrip() + "…"
