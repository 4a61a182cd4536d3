"""Streamed seconds on in-memory counters: one video per answer, each sentence's seconds held
against the same daily limits as clips, credits by the answer's whole length, refusals in one
line per limit, and a refused sentence given back."""

from __future__ import annotations

import datetime as dt

import pytest

from core.avatar.stream_budget import AnswerBudget, Held, StreamBudget
from core.limits import EVERYONE, Charge, Limits
from core.usage import Usage
from tests.fakes.memory import MemoryCounters

DAY = "2026-12-01"
MONTH = "2026-12-month"
USER = "web:ip-a"


def budget(limits: Limits | None = None) -> tuple[AnswerBudget, MemoryCounters]:
    counters = MemoryCounters()
    clock = lambda: dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC)  # noqa: E731
    return StreamBudget(counters, limits or Limits(), clock).answer(USER), counters


async def test_the_first_sentence_counts_the_video_and_each_its_seconds_with_the_limits() -> None:
    limits = Limits(renders_per_user=3, renders_total=9, seconds_per_user=60, seconds_total=90)
    answer, _ = budget(limits)
    first = await answer.reserve(2.0001)
    assert first == Held(
        (
            Charge(DAY, USER, "renders", 1, 3),
            Charge(DAY, EVERYONE, "renders", 1, 9),
            Charge(MONTH, USER, "renders", 1),
            Charge(DAY, USER, "render_ms", 2001, 60_000),
            Charge(DAY, EVERYONE, "render_ms", 2001, 90_000),
            Charge(MONTH, USER, "render_ms", 2001),
            Charge(DAY, EVERYONE, "render_credits", 1),
        ),
        2001,
    )
    second = await answer.reserve(3.0)
    assert second == Held(
        (
            Charge(DAY, USER, "render_ms", 3000, 60_000),
            Charge(DAY, EVERYONE, "render_ms", 3000, 90_000),
            Charge(MONTH, USER, "render_ms", 3000),
        ),
        3000,
    )
    assert answer.ms == 5001


async def test_credits_are_counted_as_one_clip_of_the_whole_answer() -> None:
    answer, counters = budget()
    for seconds in (10.0, 4.999, 0.001, 0.001, 20.0):
        assert not isinstance(await answer.reserve(seconds), str)
    # 35.001 s in all: three started 15 s, as D-ID bills one clip of that length.
    assert counters.counts[(DAY, EVERYONE, "render_credits")] == 3
    assert counters.counts[(DAY, USER, "render_ms")] == 35_001
    assert counters.counts[(DAY, USER, "renders")] == 1


async def test_a_streamed_answer_counts_in_the_users_month_as_in_their_day() -> None:
    answer, counters = budget()
    said = await answer.reserve(4.0)
    assert not isinstance(said, str)
    refused = await answer.reserve(2.0)
    assert not isinstance(refused, str)
    await answer.give_back(refused)  # D-ID refused that sentence
    clock = lambda: dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC)  # noqa: E731
    report = await Usage(counters, clock).report(USER)
    assert report.today == report.month  # /usage: this month is never less than today
    assert (report.month.videos, report.month.video_ms) == (1, 4000)


async def test_a_negative_estimate_holds_nothing() -> None:
    answer, counters = budget()
    held = await answer.reserve(-1.0)
    assert not isinstance(held, str) and held.ms == 0
    assert counters.counts[(DAY, USER, "render_ms")] == 0
    assert (DAY, EVERYONE, "render_credits") not in counters.counts


@pytest.mark.parametrize(
    ("limits", "line"),
    [
        (
            Limits(renders_per_user=0),
            "The avatar stops here: your avatar videos for today are used up "
            "(the rest is in the text).",
        ),
        (
            Limits(renders_total=0),
            "The avatar stops here: today's avatar videos are all used up "
            "(the rest is in the text).",
        ),
        (
            Limits(seconds_per_user=1),
            "The avatar stops here: your seconds of avatar video for today are used up "
            "(the rest is in the text).",
        ),
        (
            Limits(seconds_total=1),
            "The avatar stops here: today's avatar seconds are all used up "
            "(the rest is in the text).",
        ),
    ],
    ids=["user videos", "all videos", "user seconds", "all seconds"],
)
async def test_each_limit_stops_the_avatar_with_its_own_line(limits: Limits, line: str) -> None:
    answer, counters = budget(limits)
    assert await answer.reserve(1.5) == line
    assert all(count == 0 for count in counters.counts.values())  # all of it or none of it
    assert answer.ms == 0


async def test_a_sentence_past_the_seconds_limit_is_refused_after_the_first_fit() -> None:
    answer, counters = budget(Limits(seconds_per_user=5))
    assert not isinstance(await answer.reserve(4.0), str)
    refused = await answer.reserve(1.001)
    assert isinstance(refused, str) and "your seconds" in refused
    assert counters.counts[(DAY, USER, "render_ms")] == 4000
    assert answer.ms == 4000


async def test_a_refused_sentence_is_given_back() -> None:
    answer, counters = budget(Limits(seconds_per_user=14))
    first = await answer.reserve(4.0)
    second = await answer.reserve(9.0)
    assert not isinstance(first, str) and not isinstance(second, str)
    await answer.give_back(second)
    assert answer.ms == 4000
    assert counters.counts[(DAY, USER, "render_ms")] == 4000
    assert counters.counts[(DAY, EVERYONE, "render_ms")] == 4000
    assert counters.counts[(DAY, USER, "renders")] == 1  # the video stays counted
    assert not isinstance(await answer.reserve(6.0), str)  # the seconds are there again
