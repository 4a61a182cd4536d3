"""Concurrency: 200 private chats each send one message at once; the fake LLM takes 2 s.

Score: seconds from the 200 pushes until the last of the 200 final answers, divided by the
LLM's 2 s (1.0 would be a bot that adds nothing). Also the first text under this load, and
how late the bot's event loop woke up while all 200 streamed.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import (
    BotProcess,
    Result,
    TimedGroq,
    TimedTelegram,
    bot_env,
    summary_ms,
    wait_telegram_ready,
)

CHATS = 200
CHUNK_DELAY = 0.25  # 7 content chunks and the final chunk: 8 × 0.25 = 2 s per answer
LLM_SECONDS = 2.0
REPLY = "One two three four five six seven."


async def run(workdir: Path, profile: Path | None = None) -> Result:
    result = Result("concurrency")
    async with TimedGroq() as groq, TimedTelegram() as tg:
        groq.reply, groq.words_per_chunk, groq.chunk_delay = REPLY, 1, CHUNK_DELAY
        env = bot_env(workdir, groq, telegram=tg)
        async with BotProcess(env, workdir, profile=profile) as bot:
            await wait_telegram_ready(tg, bot)
            await _warm_up(tg)
            chats = [10_000 + index for index in range(CHATS)]
            start = len(tg.timeline)
            cpu_before, fakes_before = bot.cpu_seconds(), time.process_time()
            pushed = time.monotonic()
            for chat in chats:
                tg.push_text(chat, f"hello from chat {chat}")
            finals = await tg.wait_for(lambda: _all(tg, chats, ("sendMessage",), start), 60)
            cpu = bot.cpu_seconds() - cpu_before
            fakes_cpu = time.process_time() - fakes_before
            firsts = _all(tg, chats, ("sendMessageDraft", "sendMessage"), start)
            rss = bot.rss_mb()
        report = bot.report
    total = max(finals) - pushed
    ratio = total / LLM_SECONDS
    first_text = summary_ms([stamp - pushed - CHUNK_DELAY for stamp in firsts or []])
    result.fakes = {
        "llm_seconds_per_answer": LLM_SECONDS,
        "llm_stream": f"role chunk, 7 one-word chunks and the final chunk, {CHUNK_DELAY} s apart",
        "llm_time_to_first_token_s": CHUNK_DELAY,
        "telegram": "no added delay",
    }
    result.add("200 chats: all answered ÷ 2 s", ratio, "×", "≤ 1.25", ratio <= 1.25)
    result.add("200 chats: first text minus TTFT p50", first_text["p50"], "ms")
    result.add("200 chats: first text minus TTFT p99", first_text["p99"], "ms")
    lag = report.get("loop_lag", {})
    result.add("200 chats: event loop stall max", lag.get("max_ms", float("nan")), "ms")
    result.add("bot CPU per answered chat", cpu / CHATS * 1000, "ms")
    result.add("fakes' CPU per answered chat (other process)", fakes_cpu / CHATS * 1000, "ms")
    result.numbers = {
        "chats": CHATS,
        "seconds_to_all_final_answers": round(total, 3),
        "bot_cpu_seconds_during_burst": round(cpu, 3),
        "fakes_cpu_seconds_during_burst": round(fakes_cpu, 3),
        "first_text_minus_ttft_ms": first_text,
        "final_answer_ms": summary_ms([f - pushed for f in finals]),
        "llm_request_arrived_ms": summary_ms([a - pushed for a in groq.arrivals if a >= pushed]),
        "groq_chat_requests": len(groq.calls("/chat/completions")),
        "telegram_calls_during_run": len(tg.timeline) - start,
        "bot_event_loop_lag": lag,
        "bot_rss_mb_after": round(rss, 1),
    }
    return result


async def _warm_up(tg: TimedTelegram) -> None:
    """One answer first: the first request of each client pays one-time set-up costs."""
    tg.push_text(9_999, "warm-up")
    await tg.wait_for_sent(9_999, "sendMessage", timeout=20)


def _all(tg: TimedTelegram, chats: list[int], methods: tuple[str, ...], start: int) -> list[float]:
    """When each chat first saw one of `methods`; empty until every chat has."""
    stamps = []
    for chat in chats:
        stamp = tg.first(chat, methods, start)
        if stamp is None:
            return []
        stamps.append(stamp)
    return stamps
