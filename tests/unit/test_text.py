"""Splitting and truncating answers to a platform's limit, at the most natural boundary."""

from __future__ import annotations

import pytest

from core.text import split, truncate, utf16_len

SEPARATORS = ["\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " "]


@pytest.mark.parametrize("index", range(len(SEPARATORS) - 1))
def test_each_boundary_is_preferred_to_the_ones_after_it(index: int) -> None:
    # The window (30 characters) holds this boundary and, later in it, the next one down.
    first, later = SEPARATORS[index], SEPARATORS[index + 1]
    text = "a" * 12 + first + "b" * 5 + later + "c" * 40
    assert split(text, 30)[0] == ("a" * 12 + first).rstrip()


def test_a_space_is_the_last_boundary_before_a_hard_cut() -> None:
    assert split("a" * 12 + " " + "b" * 40, 30)[:2] == ["a" * 12, "b" * 30]
    assert split("a" * 45, 30) == ["a" * 30, "a" * 15]


@pytest.mark.parametrize("at", [7, 10])
def test_a_boundary_in_the_first_third_is_not_taken(at: int) -> None:
    # The window is 30 characters: a boundary at or before 10 would leave a tiny first part.
    assert split("a" * at + " " + "b" * 40, 30)[0] == "a" * at + " " + "b" * (29 - at)


def test_a_boundary_just_past_the_first_third_is_taken() -> None:
    assert split("a" * 11 + " " + "b" * 40, 30)[0] == "a" * 11


def test_every_part_fits_and_nothing_is_lost() -> None:
    text = "One short sentence. Another one, with a comma; and more words here!\n\nNew paragraph?"
    for limit in range(8, 40):
        parts = split(text, limit)
        assert all(len(part) <= limit for part in parts)
        assert "".join("".join(parts).split()) == "".join(text.split())  # only spaces dropped


def test_telegram_counts_utf16_units_and_a_part_is_never_empty() -> None:
    assert utf16_len("a😀") == 3
    assert split("😀😀😀", 4, utf16_len) == ["😀😀", "😀"]  # exactly the limit fits
    assert split("😀😀", 1, utf16_len) == ["😀", "😀"]  # too wide for any part: one each


def truncated_by_hand(text: str, limit: int) -> str:
    """The longest start of `text` that fits `limit` in UTF-16 units with its ellipsis."""
    if utf16_len(text) <= limit:
        return text
    keep = max(n for n in range(len(text) + 1) if utf16_len(text[:n]) <= limit - 1)
    return text[:keep].rstrip() + "…"


@pytest.mark.parametrize("limit", range(1, 16))
def test_truncate_keeps_the_longest_start_that_fits(limit: int) -> None:
    text = "a😀bc😀😀d😀e"
    assert truncate(text, limit, utf16_len) == truncated_by_hand(text, limit)
    assert truncate(text, limit) == (text if len(text) <= limit else text[: limit - 1] + "…")


def test_a_text_that_just_fits_stays_whole_and_no_part_starts_or_ends_with_spaces() -> None:
    exactly = "a" * 15 + " " + "b" * 14
    assert split(exactly, 30) == [exactly]
    assert split("a" * 30 + "   b", 30) == ["a" * 30, "b"]
    assert truncate("ab cdef", 4) == "ab…"


def test_the_last_of_several_boundaries_of_a_kind_is_taken() -> None:
    # Both sentence ends lie past the first third of the 30-character window: the later one wins.
    text = "a" * 12 + ". " + "b" * 6 + ". " + "c" * 40
    assert split(text, 30)[0] == "a" * 12 + ". " + "b" * 6 + "."
