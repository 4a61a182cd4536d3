"""Overhead to first text: an update reaches fake Telegram → the bot's first draft or message.

500 text messages in 50 private chats, one at a time (each waits for the previous answer), so
each number is the bot's own latency, not a queue. The fake LLM sends its first token `TTFT`
seconds after the request arrives. Two ways to take the LLM out:

- minus the configured TTFT (the issue's definition);
- minus the TTFT the fake actually produced (request arrival → first token released), which
  also removes the fake's own request parsing and timer overshoot: the bot's share alone.
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

MESSAGES = 500
WARMUP = 20
CHATS = 50
TTFT = 0.020  # the fake LLM's time to first token (and between its later chunks)
REPLY = "Hello there, nice to meet you."
FIRST_TEXT = ("sendMessageDraft", "sendMessage")


async def run(workdir: Path) -> Result:
    result = Result("latency")
    async with TimedGroq() as groq, TimedTelegram(stamp_arrivals=True) as tg:
        groq.reply, groq.words_per_chunk, groq.chunk_delay = REPLY, 3, TTFT
        groq.precise_timing = True  # the configured TTFT is then the one the fake produces
        env = bot_env(workdir, groq, telegram=tg)
        async with BotProcess(env, workdir) as bot:
            await wait_telegram_ready(tg, bot)
            for index in range(WARMUP):
                await _one(tg, groq, 900 + index, "warm-up")
            configured, measured, before, after = [], [], [], []
            for index in range(MESSAGES):
                first, ttft, request = await _one(tg, groq, 2000 + index % CHATS, f"q {index}")
                configured.append(first - TTFT)
                measured.append(first - ttft)
                before.append(request)
                after.append(first - ttft - request)
            rss = bot.rss_mb()
        report = bot.report
    by_config, by_fake = summary_ms(configured), summary_ms(measured)
    result.fakes = {
        "llm_time_to_first_token_s": TTFT,
        "llm_stream": "role chunk at once, then 2 content chunks and the final chunk, "
        f"each {TTFT} s apart",
        "telegram": "no added delay; getUpdates long poll answers as soon as an update is pushed",
    }
    for label, stats in (("minus configured TTFT", by_config), ("minus fake's own TTFT", by_fake)):
        result.add(f"first text {label} p50", stats["p50"], "ms", "≤ 5", stats["p50"] <= 5)
        result.add(f"first text {label} p99", stats["p99"], "ms", "≤ 25", stats["p99"] <= 25)
    result.numbers = {
        "messages": MESSAGES,
        "chats": CHATS,
        "overhead_minus_configured_ttft_ms": by_config,
        "overhead_minus_measured_ttft_ms": by_fake,
        "update_pushed_to_llm_request_ms": summary_ms(before),
        "first_token_to_first_text_ms": summary_ms(after),
        "bot_event_loop_lag": report.get("loop_lag", {}),
        "bot_rss_mb_after": round(rss, 1),
    }
    return result


async def _one(
    tg: TimedTelegram, groq: TimedGroq, chat: int, text: str
) -> tuple[float, float, float]:
    """Push one message and wait for its final answer.

    Return the seconds from the push to the first text, the fake LLM's own TTFT, and the
    seconds from the push to the LLM request's arrival (the bot's share before the model).
    """
    start = len(tg.timeline)
    pushed = time.monotonic()
    tg.push_text(chat, text)
    first = await tg.wait_for(lambda: tg.first(chat, FIRST_TEXT, start), timeout=10)
    assert first is not None  # wait_for returns the predicate's first truthy value
    await tg.wait_for(lambda: tg.first(chat, ("sendMessage",), start), timeout=10)
    ttft = groq.time_to_first_token(pushed)
    arrival = groq.arrival_after(pushed)
    if ttft is None or arrival is None:
        raise RuntimeError("the fake LLM saw no request for this message")
    return first - pushed, ttft, arrival - pushed
