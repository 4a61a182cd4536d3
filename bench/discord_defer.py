"""Discord `/talk`: 200 interactions at once, in 200 channels; each must be deferred in time.

Discord drops an interaction that gets no response within 3 s, so `/talk` defers first. The
time to defer runs from the fake gateway sending INTERACTION_CREATE to the fake REST API
receiving the deferral (`POST /interactions/{id}/{token}/callback`, type 5). The fake LLM takes
2 s per answer; the time until every original response holds its answer is reported too.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import STARTUP_TIMEOUT, BotProcess, Result, TimedDiscord, TimedGroq, bot_env
from tests.fakes.discord import GUILD_ID, PushedInteraction

INTERACTIONS = 200
CHUNK_DELAY = 0.25  # 8 × 0.25 s = 2 s per answer
LLM_SECONDS = 2.0
REPLY = "One two three four five six seven."
USER_BASE = 1_200_000_000_000_000_000


async def run(workdir: Path, profile: Path | None = None) -> Result:
    result = Result("discord")
    async with TimedGroq() as groq, TimedDiscord() as dc:
        groq.reply, groq.words_per_chunk, groq.chunk_delay = REPLY, 1, CHUNK_DELAY
        # 200 people in 200 channels: each is its own conversation and its own message quota.
        channels = [dc.add_channel(GUILD_ID, f"room-{n}") for n in range(INTERACTIONS)]
        users = [USER_BASE + n for n in range(INTERACTIONS)]
        for user in users:
            dc.add_user(user, f"user{user}")
        env = bot_env(workdir, groq, discord=dc)
        async with BotProcess(env, workdir, profile=profile) as bot:
            try:
                await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands, STARTUP_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(f"the bot did not connect:\n{bot.log_tail()}") from None
            pushed: list[tuple[float, PushedInteraction]] = []
            started = time.monotonic()
            for channel, user in zip(channels, users, strict=True):
                at = time.monotonic()
                options = {"text": "hello"}
                sent = await dc.push_interaction("talk", options, channel_id=channel, user_id=user)
                pushed.append((at, sent))
            push_span = time.monotonic() - started
            await dc.wait_for(
                lambda: all((p.id, "callback") in dc.stamps for _, p in pushed), timeout=30
            )
            await dc.wait_for(lambda: _answered(dc, pushed), timeout=60)
        report = bot.report
    defers = [dc.stamps[(p.id, "callback")] - at for at, p in pushed]
    answered = max(dc.last_edit[p.id] for _, p in pushed) - started
    late = sum(1 for d in defers if d >= 3.0)
    result.fakes = {
        "llm_seconds_per_answer": LLM_SECONDS,
        "llm_stream": f"role chunk, 7 one-word chunks and the final chunk, {CHUNK_DELAY} s apart",
        "discord": "no added delay; rate-limit headers never exhausted",
    }
    worst = max(defers)
    result.add("/talk ×200: max time to defer", worst * 1000, "ms", "< 1000", worst < 1.0)
    result.add("/talk ×200: deferred after Discord's 3 s", late, "count", "0", late == 0)
    result.add("/talk ×200: all answered ÷ 2 s", answered / LLM_SECONDS, "×")
    result.numbers = {
        "interactions": INTERACTIONS,
        "seconds_to_push_all": round(push_span, 3),
        "defer_ms": {
            "p50": round(sorted(defers)[len(defers) // 2] * 1000, 3),
            "max": round(worst * 1000, 3),
        },
        "seconds_to_all_answers": round(answered, 3),
        "bot_event_loop_lag": report.get("loop_lag", {}),
    }
    return result


def _answered(dc: TimedDiscord, pushed: list[tuple[float, PushedInteraction]]) -> bool:
    """Every original response has been edited to hold the whole answer."""
    for _, interaction in pushed:
        edits = [r for r in dc.interaction_responses(interaction.id) if r.kind == "edit_original"]
        if not edits or edits[-1].content != REPLY:
            return False
    return True
