"""Memory: the bot's RSS idle, and as conversations pile up (10,000 × 20 turns in history).

The bot runs in its own process (Telegram, no D-ID), so its RSS is its own. Steps:

1. idle: just started and polling, no message yet;
2. 500 real turns in 500 new private chats;
3. 10,000 conversations of 20 turns (40 messages) each written to its database with SQL (the
   bot keeps running: it shares the file in WAL mode), then 500 real turns in 500 of them;
4. 1,500 more real turns in 1,500 other stored conversations;
5. 1,500 more again.

"Flat" means the bot holds nothing per conversation: step 4 → 5 touches 1,500 more
conversations, and RSS must not grow with them. (Step 3 → 4 also fills bounded caches, such as
SQLite's 2 MiB page cache, so it is reported but not judged.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bench.common import BotProcess, Result, TimedGroq, TimedTelegram, bot_env, wait_telegram_ready

STORED = 10_000
TURNS = 20
NEW_CHATS = 500
FIRST_STORED_CHAT = 100_000
TOUCH_B, TOUCH_C = 500, 1_500  # step 5 touches TOUCH_C more
CONCURRENCY = 50
# The limit is 120 MB; RSS is read in MiB (2**20 bytes), so the line is 114.4 MiB.
LIMIT_MIB = 120e6 / 2**20
FLAT_MB_PER_1000 = 2.0  # RSS growth allowed per 1,000 more conversations touched
QUESTION = "Tell me something about the weather on Mars, and keep it short please."
ANSWER = (
    "Mars is cold and dusty: days can reach about 20 °C at the equator, nights fall below "
    "−70 °C, and dust storms sometimes wrap the whole planet for weeks."
)


async def run(workdir: Path) -> Result:
    result = Result("memory")
    rss: dict[str, float] = {}
    async with TimedGroq() as groq, TimedTelegram() as tg:
        groq.reply = ANSWER
        env = bot_env(workdir, groq, telegram=tg)
        async with BotProcess(env, workdir) as bot:
            await wait_telegram_ready(tg, bot)
            rss["idle"] = bot.rss_mb()
            await _turns(tg, range(1, NEW_CHATS + 1))
            rss["after 500 conversations"] = bot.rss_mb()
            database = Path(env["DATABASE_PATH"])
            rows = await asyncio.to_thread(_fill, database)
            stored = range(FIRST_STORED_CHAT, FIRST_STORED_CHAT + STORED)
            await _turns(tg, stored[:TOUCH_B])
            rss["10,000 stored, 500 of them answered"] = bot.rss_mb()
            await _turns(tg, stored[TOUCH_B : TOUCH_B + TOUCH_C])
            rss["10,000 stored, 2,000 of them answered"] = bot.rss_mb()
            await _turns(tg, stored[TOUCH_B + TOUCH_C : TOUCH_B + 2 * TOUCH_C])
            rss["10,000 stored, 3,500 of them answered"] = bot.rss_mb()
            bot.check_alive()
            size = (await asyncio.to_thread(database.stat)).st_size
        report = bot.report
    keys = list(rss)
    warming = (rss[keys[3]] - rss[keys[2]]) / TOUCH_C * 1000
    growth = (rss[keys[4]] - rss[keys[3]]) / TOUCH_C * 1000
    result.fakes = {"llm": "answers at once", "telegram": "no added delay"}
    limit = f"≤ {LIMIT_MIB:.1f} (120 MB)"
    result.add("RSS idle", rss["idle"], "MiB", limit, rss["idle"] <= LIMIT_MIB)
    worst = max(rss.values())
    result.add("RSS with 10,000 conversations stored", worst, "MiB", limit, worst <= LIMIT_MIB)
    flat = f"≤ {FLAT_MB_PER_1000:g}"
    ok = growth <= FLAT_MB_PER_1000
    result.add("RSS growth per 1,000 more conversations", growth, "MiB", flat, ok)
    result.numbers = {
        "rss_mib": {name: round(value, 1) for name, value in rss.items()},
        "peak_rss_mib": report.get("peak_rss_mb"),
        "stored_conversations": STORED,
        "stored_messages": rows,
        "real_turns": NEW_CHATS + TOUCH_B + 2 * TOUCH_C,
        "rss_growth_mib_per_1000_while_caches_fill": round(warming, 2),
        "database_mib": round(size / 2**20, 1),
    }
    return result


async def _turns(tg: TimedTelegram, chats: range) -> None:
    """One real turn in each chat, `CONCURRENCY` chats at a time."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(chat: int) -> None:
        async with slots:
            await tg.answer(chat, QUESTION)

    await asyncio.gather(*(one(chat) for chat in chats))


def _fill(database: Path) -> int:
    """Write `STORED` conversations of `TURNS` turns each, the way the bot stores them."""
    rows = []
    for chat in range(FIRST_STORED_CHAT, FIRST_STORED_CHAT + STORED):
        for turn in range(TURNS):
            rows.append(("telegram", str(chat), "", "user", f"{QUESTION} ({turn})"))
            rows.append(("telegram", str(chat), "", "assistant", ANSWER))
    with sqlite3.connect(database, timeout=30) as db:
        db.executemany(
            "INSERT INTO messages (platform, chat_id, thread_id, role, content)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)
