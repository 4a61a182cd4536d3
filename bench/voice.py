"""Voice notes: an OGG/Opus voice note goes to Whisper as it is, with no extra process.

50 voice notes through fake Telegram (getFile, download, transcription, answer). The bot process
records every process it starts (subprocess, asyncio subprocess, posix_spawn, fork); the count
inside the window of the voice notes must be 0 (no ffmpeg). The whole run's processes are
reported too. Also: how long from the update to
the Whisper request, and what the Whisper request carried.
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

NOTES = 50
VOICE = (Path(__file__).resolve().parent.parent / "tests" / "data" / "voice.ogg").read_bytes()
TRANSCRIPTIONS = "/audio/transcriptions"


async def run(workdir: Path) -> Result:
    result = Result("voice")
    async with TimedGroq() as groq, TimedTelegram() as tg:
        groq.reply = "Got it."
        async with BotProcess(bot_env(workdir, groq, telegram=tg), workdir) as bot:
            await wait_telegram_ready(tg, bot)
            # The groq SDK runs `uname -p` once per process, at its first request (its
            # platform header calls platform.platform()): a text message takes that first.
            tg.push_text(4999, "warm-up")
            await tg.wait_for_sent(4999, "sendMessage", timeout=10)
            window_start = time.monotonic()
            to_whisper = []
            for index in range(NOTES):
                chat = 5000 + index
                start, seen = len(tg.timeline), len(groq.calls(TRANSCRIPTIONS))
                pushed = time.monotonic()
                tg.push_voice(chat, VOICE)
                await groq.wait_for(lambda: len(groq.calls(TRANSCRIPTIONS)) > seen, timeout=10)  # noqa: B023
                to_whisper.append(time.monotonic() - pushed)
                await tg.wait_for(lambda: tg.first(chat, ("sendMessage",), start), timeout=10)  # noqa: B023
            window_end = time.monotonic()
        report = bot.report
    started = [
        p for p in report.get("processes_started", []) if window_start <= p["at"] <= window_end
    ]
    uploads = [call.file for call in groq.calls(TRANSCRIPTIONS)]
    as_sent = all(u is not None and u.size == len(VOICE) and u.head == VOICE[:16] for u in uploads)
    result.fakes = {"whisper": "answers at once", "telegram": "no added delay"}
    whole_run = report.get("processes_started", [])
    result.add("extra processes for voice notes", len(started), "count", "0", not started)
    result.add("processes in the whole run (start-up included)", len(whole_run), "count")
    result.add("voice notes sent to Whisper unchanged", len(uploads) if as_sent else 0, "count")
    stats = summary_ms(to_whisper)
    result.add("update → Whisper request p50", stats["p50"], "ms")
    result.numbers = {
        "voice_notes": NOTES,
        "whisper_requests": len(uploads),
        "upload_content_types": sorted({u.content_type or "" for u in uploads if u}),
        "processes_started_in_window": started,
        "processes_started_whole_run": whole_run,
        "update_to_whisper_request_ms": stats,
    }
    return result
