"""Video slack and D-ID polls: fake D-ID renders for ~40 s; how soon is the video posted?

Rounds of 8 private chats (D-ID renders 8 at a time by default), each render 40 s ± 2 s (a fixed
pseudo-random spread, so polls meet renders at different phases), each bot in its own process:

- "cold": polling only, the bot has never timed a render and assumes the schedule's default;
- "warm": the same bot, which has timed the cold round's renders and aims its polls at them;
- "webhook" (alongside cold, on fakes and a bot of its own): `DID_WEBHOOK_URL` set, the fake D-ID
  POSTs each finished talk to the bot's web server; polls are only the 20 s fallback;
- "restart": polling only; once every render has been polled, the bot is stopped (SIGTERM) and
  started again on the same database, so it resumes talks it did not submit.

Slack = the fake Telegram receiving `sendVideo` − the moment the fake D-ID's render finished
(created + render time). Polls = `GET /talks/{id}` requests per talk (both processes for a
restarted one). The poll schedule is also simulated for other render times, cold and warm.
"""

from __future__ import annotations

import asyncio
import random
import socket
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
from core.avatar.did_polling import PollSchedule
from tests.fakes.did import FakeDID, FakeTalk

RENDER_SECONDS = 40.0
SPREAD = 2.0
PER_ROUND = 8
SIMULATED = (10.0, 20.0, 30.0, 40.0, 45.0, 60.0, 120.0)
Samples = list[tuple[float, int]]  # (slack in seconds, polls) per chat


async def run(workdir: Path) -> Result:
    result = Result("video")
    (cold, warm), webhook = await asyncio.gather(
        _polling(workdir / "polling"), _webhook(workdir / "webhook")
    )
    rounds = {"cold": cold, "warm": warm, "webhook": webhook}
    rounds["restart"] = await _restart(workdir / "restart")
    schedule = PollSchedule()
    result.fakes = {
        "did_render_seconds": f"{RENDER_SECONDS} ± {SPREAD} (uniform, seeds 7, 8, 9)",
        "llm": "answers at once",
        "telegram": "no added delay",
        "poll_schedule": {
            "first_s": schedule.first,
            "interval_s": schedule.interval,
            "assumed_render_s_before_any_is_timed": schedule.expected,
            "fallback_s_with_a_webhook": schedule.fallback,
        },
    }
    targets = {"cold": 1.0, "warm": 1.0, "webhook": 0.2, "restart": 1.5}
    for name, samples in rounds.items():
        slacks, polls = [s for s, _ in samples], [p for _, p in samples]
        p50, most = percentile(slacks, 50), max(polls)
        target = targets[name]
        result.add(f"video slack p50 ({name})", p50, "s", f"≤ {target:g} s", p50 <= target)
        result.add(f"video slack max ({name})", max(slacks), "s")
        if name == "webhook":
            result.add("D-ID polls per ~40 s render, max (webhook)", most, "count")
        else:
            ok = most <= 12
            result.add(f"D-ID polls per ~40 s render, max ({name})", most, "count", "≤ 12", ok)
    result.numbers = {
        name: {"slack_s": [round(s, 3) for s, _ in samples], "polls": [p for _, p in samples]}
        for name, samples in rounds.items()
    } | {"simulated_schedule": simulate(schedule)}
    return result


async def _polling(workdir: Path) -> tuple[Samples, Samples]:
    spread = random.Random(7)
    async with TimedGroq() as groq, TimedTelegram() as tg, FakeDID() as did:
        async with BotProcess(bot_env(workdir, groq, telegram=tg, did=did), workdir) as bot:
            await wait_telegram_ready(tg, bot)
            cold = await _round(tg, did, spread, 7000)
            warm = await _round(tg, did, spread, 7100)
    return cold, warm


async def _webhook(workdir: Path) -> Samples:
    port = _free_port()
    extra = {
        "WEB_ENABLED": "true",
        "WEB_PORT": str(port),
        "DID_WEBHOOK_URL": f"http://127.0.0.1:{port}/did/hook",
    }
    async with TimedGroq() as groq, TimedTelegram() as tg, FakeDID() as did:
        env = bot_env(workdir, groq, telegram=tg, did=did) | extra
        async with BotProcess(env, workdir) as bot:
            await wait_telegram_ready(tg, bot)
            samples = await _round(tg, did, random.Random(8), 7200)
    assert all(d.status == 200 for d in did.webhooks), did.webhooks
    return samples


async def _restart(workdir: Path) -> Samples:
    async with TimedGroq() as groq, TimedTelegram() as tg, FakeDID() as did:
        env = bot_env(workdir, groq, telegram=tg, did=did)
        first = BotProcess(env, workdir)
        try:
            await first.start()
            await wait_telegram_ready(tg, first)
            chats, talks = await _push(tg, did, random.Random(9), 7300)
            await did.wait_for(lambda: all(t.polls for t in talks), timeout=30)
        finally:
            await first.stop()
        async with BotProcess(env, workdir) as second:
            await wait_telegram_ready(tg, second)
            return await _collect(tg, chats, talks)


async def _round(tg: TimedTelegram, did: FakeDID, spread: random.Random, first: int) -> Samples:
    chats, talks = await _push(tg, did, spread, first)
    return await _collect(tg, chats, talks)


async def _push(
    tg: TimedTelegram, did: FakeDID, spread: random.Random, first_chat: int
) -> tuple[list[int], list[FakeTalk]]:
    """Ask for a video in PER_ROUND chats; return the chats and their talks at the fake D-ID."""
    chats = [first_chat + n for n in range(PER_ROUND)]
    talks = []
    for chat in chats:
        did.render_seconds = RENDER_SECONDS + spread.uniform(-SPREAD, SPREAD)
        tg.push_text(chat, f"video please, chat {chat}")
        count = len(did.talks) + 1
        await did.wait_for(lambda: len(did.talks) >= count, timeout=10)  # noqa: B023
        talks.append(list(did.talks.values())[-1])
    return chats, talks


async def _collect(tg: TimedTelegram, chats: list[int], talks: list[FakeTalk]) -> Samples:
    await tg.wait_for(
        lambda: all(tg.first(c, ("sendVideo",)) for c in chats), timeout=RENDER_SECONDS * 3
    )
    return [_slack_and_polls(tg, chat, talk) for chat, talk in zip(chats, talks, strict=True)]


def _slack_and_polls(tg: TimedTelegram, chat: int, talk: FakeTalk) -> tuple[float, int]:
    posted = tg.first(chat, ("sendVideo",))
    assert posted is not None
    return posted - (talk.created_mono + talk.render_seconds), talk.polls


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
