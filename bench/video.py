"""Video slack and D-ID polls: fake D-ID renders for ~40 s; how soon is the video posted?

Two rounds of 8 private chats (D-ID renders 8 at a time by default), each render 40 s ± 2 s
(a fixed pseudo-random spread, so polls meet renders at different phases):

- round 1 "cold": the bot has never timed a render and assumes the schedule's default;
- round 2 "warm": the bot has timed round 1's renders and aims its polls at that estimate.

Slack = the fake Telegram receiving `sendVideo` − the moment the fake D-ID's render finished
(created + render time). Polls = `GET /talks/{id}` requests per talk. The poll schedule
function is also simulated for other render times, cold and warm, without waiting for them.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.common import (
    BotProcess,
    Result,
    TimedGroq,
    TimedTelegram,
    bot_env,
    percentile,
    wait_telegram_ready,
)
from core.did import PollSchedule
from tests.fakes.did import FakeDID, FakeTalk

RENDER_SECONDS = 40.0
SPREAD = 2.0
PER_ROUND = 8
SIMULATED = (10.0, 20.0, 30.0, 40.0, 45.0, 60.0, 120.0)


async def run(workdir: Path) -> Result:
    result = Result("video")
    spread = random.Random(7)
    rounds: dict[str, list[tuple[float, int]]] = {}
    async with TimedGroq() as groq, TimedTelegram() as tg, FakeDID() as did:
        async with BotProcess(bot_env(workdir, groq, telegram=tg, did=did), workdir) as bot:
            await wait_telegram_ready(tg, bot)
            for name, first_chat in (("cold", 7000), ("warm", 7100)):
                chats = [first_chat + n for n in range(PER_ROUND)]
                talks = []
                for chat in chats:
                    did.render_seconds = RENDER_SECONDS + spread.uniform(-SPREAD, SPREAD)
                    tg.push_text(chat, f"video please, chat {chat}")
                    count = len(did.talks) + 1
                    await did.wait_for(lambda: len(did.talks) >= count, timeout=10)  # noqa: B023
                    talks.append(list(did.talks.values())[-1])
                await tg.wait_for(
                    lambda: all(tg.first(c, ("sendVideo",)) for c in chats),  # noqa: B023
                    timeout=RENDER_SECONDS * 3,
                )
                pairs = zip(chats, talks, strict=True)
                rounds[name] = [_slack_and_polls(tg, chat, talk) for chat, talk in pairs]
    schedule = PollSchedule()
    result.fakes = {
        "did_render_seconds": f"{RENDER_SECONDS} ± {SPREAD} (uniform, seed 7)",
        "llm": "answers at once",
        "telegram": "no added delay",
        "poll_schedule": {
            "first_s": schedule.first,
            "interval_s": schedule.interval,
            "assumed_render_s_before_any_is_timed": schedule.expected,
        },
    }
    for name, samples in rounds.items():
        slacks = [s for s, _ in samples]
        polls = [p for _, p in samples]
        p50 = percentile(slacks, 50)
        result.add(f"video slack p50 ({name})", p50, "s", "≤ 1 s", p50 <= 1.0)
        most = max(polls)
        result.add(f"D-ID polls per ~40 s render, max ({name})", most, "count", "≤ 12", most <= 12)
    result.numbers = {
        name: {"slack_s": [round(s, 3) for s, _ in samples], "polls": [p for _, p in samples]}
        for name, samples in rounds.items()
    } | {"simulated_schedule": simulate(schedule)}
    return result


def _slack_and_polls(tg: TimedTelegram, chat: int, talk: FakeTalk) -> tuple[float, int]:
    posted = tg.first(chat, ("sendVideo",))
    assert posted is not None
    return posted - (talk.created_mono + talk.render_seconds), talk.polls


def simulate(schedule: PollSchedule) -> list[dict[str, float]]:
    """Polls and slack of the schedule for renders of other lengths: cold and already timed."""
    rows = []
    for render in SIMULATED:
        cold = _walk(schedule, render, schedule.expected)
        warm = _walk(schedule, render, render)
        rows.append(
            {
                "render_s": render,
                "cold_polls": cold[0],
                "cold_slack_s": round(cold[1], 2),
                "warm_polls": warm[0],
                "warm_slack_s": round(warm[1], 2),
            }
        )
    return rows


def _walk(schedule: PollSchedule, render: float, expected: float) -> tuple[int, float]:
    elapsed, polls = 0.0, 0
    while elapsed < schedule.timeout:
        elapsed += schedule.next_delay(elapsed, expected)
        polls += 1
        if elapsed >= render:
            return polls, elapsed - render
    return polls, float("inf")
