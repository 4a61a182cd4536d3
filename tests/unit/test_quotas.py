"""Quotas on in-memory counters and a fixed clock: what is admitted, the exact line for what is
refused, all-or-nothing reservations, refunds given once, and the day's stats."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from core.limits import (
    EVERYONE,
    AnswerHold,
    Charge,
    Limits,
    Reservation,
    credits_for,
    month_period,
    user_scope,
)
from core.quota import Quotas
from core.types import AvatarJob, ConversationKey, JobState
from tests.fakes.memory import MemoryCounters

NOON = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
DAY = "2026-12-01"
MONTH = "2026-12-month"  # the user's month totals (for /usage), never limited


class Clock:
    def __init__(self, now: dt.datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def quotas(
    clock: Clock | None = None, limits: Limits | None = None
) -> tuple[Quotas, MemoryCounters]:
    counters = MemoryCounters()
    return Quotas(counters, limits or Limits(), clock or Clock()), counters


@pytest.mark.parametrize(
    ("ms", "credits"), [(-5, 0), (0, 0), (1, 1), (15_000, 1), (15_001, 2), (30_000, 2)]
)
def test_d_id_bills_one_credit_per_started_15_seconds(ms: int, credits: int) -> None:
    assert credits_for(ms) == credits


async def test_messages_without_a_limit_are_only_counted() -> None:
    q, counters = quotas()
    assert [await q.admit_message("telegram:1") for _ in range(50)] == [None] * 50
    assert counters.counts == {(DAY, EVERYONE, "messages"): 50}


async def test_a_user_over_the_per_minute_limit_is_refused_until_the_next_minute() -> None:
    clock = Clock()
    q, counters = quotas(clock, Limits(messages_per_minute=2))
    results = [await q.admit_message("u1") for _ in range(3)]
    assert results == [
        None,
        None,
        "You're sending messages faster than I can answer — please wait a minute.",
    ]
    assert await q.admit_message("u2") is None  # per user
    clock.now += dt.timedelta(minutes=1)
    assert await q.admit_message("u1") is None
    assert counters.counts[(DAY, EVERYONE, "messages")] == 5  # every message counts for the day
    assert counters.counts[("2026-12-01T12:00", "u1", "messages")] == 3


def test_a_reservation_charges_each_counter_with_its_limit() -> None:
    limits = Limits(renders_per_user=2, renders_total=9, seconds_per_user=30, seconds_total=60)
    reservation = Reservation(DAY, "u1", 16_000)
    assert reservation.charges(limits) == [
        Charge(DAY, "u1", "renders", 1, 2),
        Charge(DAY, EVERYONE, "renders", 1, 9),
        Charge(DAY, "u1", "render_ms", 16_000, 30_000),
        Charge(DAY, EVERYONE, "render_ms", 16_000, 60_000),
        Charge(DAY, EVERYONE, "render_credits", 2),
        Charge(MONTH, "u1", "renders", 1),
        Charge(MONTH, "u1", "render_ms", 16_000),
    ]
    assert reservation.charges(sign=-1) == [
        Charge(DAY, "u1", "renders", -1),
        Charge(DAY, EVERYONE, "renders", -1),
        Charge(DAY, "u1", "render_ms", -16_000),
        Charge(DAY, EVERYONE, "render_ms", -16_000),
        Charge(DAY, EVERYONE, "render_credits", -2),
        Charge(MONTH, "u1", "renders", -1),
        Charge(MONTH, "u1", "render_ms", -16_000),
    ]


def job(job_id: int = 1, **reserved: object) -> AvatarJob:
    return AvatarJob(
        job_id,
        ConversationKey("t", "c"),
        "hi",
        "{}",
        JobState.FAILED,
        **reserved,  # type: ignore[arg-type]
    )


def test_a_job_holds_a_reservation_only_with_its_day_and_scope() -> None:
    full = job(reserved_day=DAY, reserved_scope="u1", reserved_ms=5)
    assert Reservation.of(full) == Reservation(DAY, "u1", 5)
    assert Reservation.of(job(reserved_scope="u1")) is None
    assert Reservation.of(job(reserved_day=DAY)) is None


@pytest.mark.parametrize(
    ("seconds", "ms"), [(1.0, 1000), (1.0001, 1001), (0.0, 0), (-3.0, 0), (12.3456, 12_346)]
)
async def test_a_render_reserves_its_seconds_rounded_up_to_the_millisecond(
    seconds: float, ms: int
) -> None:
    q, _ = quotas()
    assert await q.reserve_render("u1", seconds) == Reservation(DAY, "u1", ms)


@pytest.mark.parametrize(
    ("limits", "first", "second", "reason"),
    [
        ({"renders_per_user": 1}, 1, 1, "your 1 avatar videos for today are used up"),
        ({"renders_per_user": 3, "renders_total": 1}, 1, 1, "today's avatar videos are all used"),
        (
            {"seconds_per_user": 10},
            8,
            5,
            "this answer needs about 5 s of video and you have 2 s left today",
        ),
        ({"seconds_per_user": 10}, 10, 1, "your 10 seconds of avatar video for today are used up"),
        (
            {"seconds_total": 10},
            8,
            4.2,
            "this answer needs about 5 s of video and only 2 s are left for today",
        ),
        ({"seconds_total": 10}, 9.5, 1, "today's seconds of avatar video are all used"),
    ],
)
async def test_a_render_over_a_limit_is_refused_with_its_reason(
    limits: dict[str, int], first: float, second: float, reason: str
) -> None:
    q, counters = quotas(None, Limits(**limits))
    user = "u1" if "renders_total" not in limits and "seconds_total" not in limits else "u0"
    assert isinstance(await q.reserve_render(user, first), Reservation)
    before = dict(counters.counts)
    refusal = await q.reserve_render("u1", second)
    assert refusal == f"No video this time: {reason}; they reset in 12 h 0 min."
    assert counters.counts == before  # all of it or none of it


@pytest.mark.parametrize(
    ("now", "resets"),
    [
        (dt.datetime(2026, 12, 1, 0, 0, 0), "24 h 0 min"),
        (dt.datetime(2026, 12, 1, 22, 29, 0), "1 h 31 min"),
        (dt.datetime(2026, 12, 1, 23, 0, 0), "1 h 0 min"),
        (dt.datetime(2026, 12, 1, 23, 1, 0), "59 min"),
        (dt.datetime(2026, 12, 1, 23, 59, 30), "1 min"),
    ],
)
async def test_a_refusal_says_when_the_limits_reset(now: dt.datetime, resets: str) -> None:
    q, _ = quotas(Clock(now.replace(tzinfo=dt.UTC)), Limits(renders_total=0))
    refusal = await q.reserve_render("u1", 1)
    assert (
        refusal
        == f"No video this time: today's avatar videos are all used; they reset in {resets}."
    )


async def test_a_failed_render_is_refunded_once_and_a_job_without_budget_never() -> None:
    q, counters = quotas(None, Limits(renders_per_user=1))
    reservation = await q.reserve_render("u1", 16)
    assert isinstance(reservation, Reservation)
    held = job(4, reserved_day=reservation.day, reserved_scope="u1", reserved_ms=reservation.ms)
    assert await q.refund(held)
    assert not await q.refund(held)  # asked again after a restart
    assert not await q.refund(job(5))
    assert await q.today() == {
        "messages": 0,
        "answers": 0,
        "renders": 0,
        "render_ms": 0,
        "render_credits": 0,
        "errors": 0,
        "refusals": 0,
    }
    assert counters.counts[(DAY, "job:4", "refunded")] == 1
    assert isinstance(await q.reserve_render("u1", 1), Reservation)  # the video is back


async def test_a_reservation_no_job_holds_is_released() -> None:
    q, _ = quotas(None, Limits(renders_per_user=1))
    reservation = await q.reserve_render("u1", 3)
    assert isinstance(reservation, Reservation)
    await q.release(reservation)
    assert (await q.today())["renders"] == 0
    kept, released = await q.reserve_render("u2", 3), await q.reserve_render("u3", 4)
    assert isinstance(kept, Reservation) and isinstance(released, Reservation)
    await q.release(released)  # only its own video and seconds
    assert {k: v for k, v in (await q.today()).items() if v} == {
        "renders": 1,
        "render_ms": 3000,
        "render_credits": 1,
    }
    assert isinstance(await q.reserve_render("u1", 3), Reservation)


async def test_the_days_stats_count_messages_videos_seconds_credits_errors_refusals() -> None:
    q, _ = quotas()
    await q.admit_message("u1")
    await q.reserve_render("u1", 16)
    await q.reserve_render("u2", 2)
    await q.note("errors")
    for _ in range(2):
        await q.note("refusals")
    assert await q.today() == {
        "messages": 1,
        "answers": 0,
        "renders": 2,
        "render_ms": 18_000,
        "render_credits": 3,
        "errors": 1,
        "refusals": 2,
    }


async def test_prune_keeps_yesterday_and_today() -> None:
    clock = Clock(dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC))
    q, counters = quotas(clock, Limits(messages_per_minute=5))
    for _ in range(3):
        await q.admit_message("u1")
        clock.now += dt.timedelta(days=1)
    clock.now -= dt.timedelta(days=1)  # 2026-12-01
    await q.prune()
    assert sorted({period[:10] for period, _, _ in counters.counts}) == [
        "2026-11-30",
        "2026-12-01",
    ]


def test_a_users_budget_is_theirs_on_their_platform_else_the_chats() -> None:
    assert user_scope(ConversationKey("telegram", "-100", "7"), "42") == "telegram:42"
    assert user_scope(ConversationKey("web", "ip-a"), "") == "web:ip-a"


def test_a_months_period_sorts_after_its_days_and_before_the_next_month() -> None:
    assert month_period("2026-12-31") == "2026-12-month"
    assert "2026-12-31" < month_period("2026-12-01") < "2027-01-01"


async def test_the_days_answers_end_at_the_total_warn_once_a_day_and_reset_at_midnight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(NOON.replace(hour=22, minute=15))
    q, counters = quotas(clock, Limits(messages_total=1))
    caplog.set_level(logging.WARNING, logger="core.quota")
    assert await q.hold_answer() == AnswerHold(DAY)
    assert [await q.hold_answer() for _ in range(2)] == [
        "I've answered all the messages I can for today — please come back in 1 h 45 min."
    ] * 2
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING
    clock.now += dt.timedelta(hours=2)  # the next UTC day: room again, and a warning of its own
    assert await q.hold_answer() == AnswerHold("2026-12-02")
    assert isinstance(await q.hold_answer(), str) and len(caplog.records) == 2
    await q.give_back_answer(AnswerHold(DAY))  # counted back on the day it was held on
    assert await counters.get(DAY, EVERYONE, "answers") == 0
    assert await counters.get("2026-12-02", EVERYONE, "answers") == 1
    assert q.answers_limit == 1


async def test_without_a_total_answers_are_only_counted() -> None:
    q, _ = quotas(None, Limits())
    assert [await q.hold_answer() for _ in range(3)] == [AnswerHold(DAY)] * 3
    assert (await q.today())["answers"] == 3 and q.answers_limit is None
