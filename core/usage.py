"""What each user used (/usage): videos and their seconds, voice answers and LLM tokens.

Counted on the same counters and in the same user scope as the video budget (core/limits.py):
per UTC day and per month (`month_period`, which pruning keeps until its month is over).
Videos are counted when their budget is reserved, and given back with it when D-ID fails one.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import messages
from core.i18n import Line, Number
from core.limits import RENDER_MS, RENDERS, Charge, Clock, month_period, utc_now
from core.ports import Counters

LLM_TOKENS = "llm_tokens"
VOICE_ANSWERS = "voice_answers"


@dataclass(frozen=True, slots=True)
class Used:
    """One user's counts over one period."""

    videos: int = 0
    video_ms: int = 0
    voice_answers: int = 0
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class UsageReport:
    """One user's usage today (UTC) and this month."""

    today: Used
    month: Used


class Usage:
    """Records a user's voice answers and tokens; reports what they used."""

    def __init__(self, counters: Counters, clock: Clock = utc_now) -> None:
        self._counters, self._clock = counters, clock

    def _periods(self) -> tuple[str, str]:
        day = self._clock().strftime("%Y-%m-%d")
        return day, month_period(day)

    async def record(self, scope: str, name: str, amount: int = 1) -> None:
        """Add `amount` of `name` (LLM_TOKENS, VOICE_ANSWERS) to today's and the month's count."""
        if amount <= 0:
            return
        day, month = self._periods()
        await self._counters.add_within(
            [Charge(day, scope, name, amount), Charge(month, scope, name, amount)]
        )

    async def report(self, scope: str) -> UsageReport:
        """Return what the user of `scope` used today and this month."""
        day, month = self._periods()
        return UsageReport(await self._used(day, scope), await self._used(month, scope))

    async def _used(self, period: str, scope: str) -> Used:
        counts = [
            await self._counters.get(period, scope, name)
            for name in (RENDERS, RENDER_MS, VOICE_ANSWERS, LLM_TOKENS)
        ]
        return Used(*counts)


def describe(report: UsageReport) -> str:
    """Return the /usage line for a report."""

    def part(used: Used) -> str:
        return Line(
            messages.USAGE_PART,
            videos=used.videos,
            seconds=Number(used.video_ms / 1000, "#,##0"),
            voice=used.voice_answers,
            tokens=used.tokens,
        )

    return Line(messages.USAGE, today=part(report.today), month=part(report.month))
