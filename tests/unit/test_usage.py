"""/usage on in-memory counters: what is recorded where, what a report reads back, its line."""

from __future__ import annotations

import datetime as dt

from core import messages
from core.limits import RENDER_MS, RENDERS
from core.usage import LLM_TOKENS, VOICE_ANSWERS, Usage, UsageReport, Used, describe
from tests.fakes.memory import MemoryCounters

NOW = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
DAY, MONTH = "2026-12-31", "2026-12-month"


async def test_a_record_counts_on_the_day_and_the_month_and_nothing_is_not_recorded() -> None:
    counters = MemoryCounters()
    usage = Usage(counters, clock=lambda: NOW)
    await usage.record("telegram:u1", LLM_TOKENS, 120)
    await usage.record("telegram:u1", VOICE_ANSWERS)
    await usage.record("telegram:u1", LLM_TOKENS, 0)
    await usage.record("telegram:u1", LLM_TOKENS, -5)
    assert counters.counts == {
        (DAY, "telegram:u1", LLM_TOKENS): 120,
        (MONTH, "telegram:u1", LLM_TOKENS): 120,
        (DAY, "telegram:u1", VOICE_ANSWERS): 1,
        (MONTH, "telegram:u1", VOICE_ANSWERS): 1,
    }


async def test_a_report_reads_each_count_of_its_period() -> None:
    counters = MemoryCounters()
    counters.counts = {
        (DAY, "u", RENDERS): 2,
        (DAY, "u", RENDER_MS): 12_500,
        (DAY, "u", VOICE_ANSWERS): 3,
        (DAY, "u", LLM_TOKENS): 40,
        (MONTH, "u", RENDERS): 5,
        (MONTH, "u", RENDER_MS): 60_000,
        (MONTH, "u", VOICE_ANSWERS): 7,
        (MONTH, "u", LLM_TOKENS): 900,
        (DAY, "other", LLM_TOKENS): 1,
    }
    report = await Usage(counters, clock=lambda: NOW).report("u")
    assert report == UsageReport(Used(2, 12_500, 3, 40), Used(5, 60_000, 7, 900))


def test_the_usage_line_shows_whole_seconds_with_thousands_grouped() -> None:
    line = describe(UsageReport(Used(2, 12_400, 3, 40), Used(300, 1_234_000, 7, 900)))
    today = messages.USAGE_PART.format(videos=2, seconds="12", voice=3, tokens=40)
    month = messages.USAGE_PART.format(videos=300, seconds="1,234", voice=7, tokens=900)
    assert line == messages.USAGE.format(today=today, month=month)
