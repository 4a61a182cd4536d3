"""History read: building the model's context for one turn with 10,000 conversations stored.

The database holds 10,000 conversations of 20 turns (400,000 messages). Each sample picks a
conversation at random and does what a turn does before calling the model: read its last 20
messages through `SqliteHistoryStore.recent` (on the bot's one aiosqlite connection), put the
system prompt and the question around them, and turn them into langchain messages. Also
reported: the query plans of the per-message queries, and what the groq SDK's own `create`
spends on that context beyond a plain post of it (its TypedDict transform and response models),
which `core/groq/completions.py` skips.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from bench.common import Result, summary_ms
from bot.settings import DEFAULT_SYSTEM_PROMPT
from bot.storage import MIGRATIONS_DIR
from core.storage import sqlite
from core.storage.sqlite_stores import SqliteHistoryStore
from core.types import ChatMessage, ConversationKey

CONVERSATIONS = 10_000
TURNS = 20
LIMIT = 20
SAMPLES = 3_000
WARMUP = 200
ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}
PLANS = {
    "history read (two conversations in one statement)": (
        " UNION ALL ".join(
            [
                "SELECT * FROM (SELECT ? AS n, id, role, content FROM messages"
                " WHERE platform = ? AND chat_id = ? AND thread_id = ? ORDER BY id DESC LIMIT ?)"
            ]
            * 2
        ),
        (0, "telegram", "1", "", 20, 1, "telegram", "2", "", 20),
    ),
    "history append": (
        "INSERT INTO messages (platform, chat_id, thread_id, role, content) VALUES (?, ?, ?, ?, ?)",
        ("telegram", "1", "", "user", "hi"),
    ),
    "avatar switch": (
        "SELECT avatar_enabled FROM chat_preferences WHERE platform = ? AND chat_id = ?",
        ("telegram", "1"),
    ),
    "job update": (
        "UPDATE avatar_jobs SET state = ? WHERE id = ? RETURNING id",
        ("submitted", 1),
    ),
    "inbox record": (
        "INSERT INTO inbox (platform, message_key, payload) VALUES (?, ?, ?)"
        " ON CONFLICT (platform, message_key) DO NOTHING RETURNING message_key",
        ("telegram", "1", "{}"),
    ),
    "inbox answered": (
        "UPDATE inbox SET state = 'answered' WHERE platform = ? AND message_key = ?"
        " AND state = 'received'",
        ("telegram", "1"),
    ),
    "quota counter": (
        "INSERT INTO counters (period, scope, name, count) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (period, scope, name) DO UPDATE SET count = count + excluded.count"
        " RETURNING period, scope, name, count",
        ("2026-01-01", "*", "messages", 1),
    ),
}


async def run(workdir: Path) -> Result:
    result = Result("history")
    path = workdir / "history.db"
    db = await sqlite.connect(path)
    try:
        await sqlite.migrate(db, MIGRATIONS_DIR)
        await db.executemany(
            "INSERT INTO messages (platform, chat_id, thread_id, role, content)"
            " VALUES (?, ?, ?, ?, ?)",
            _rows(),
        )
        store = SqliteHistoryStore(db)
        pick = random.Random(11)
        timings: list[float] = []
        transforms: list[float] = []
        for sample in range(WARMUP + SAMPLES):
            key = ConversationKey("telegram", str(pick.randrange(CONVERSATIONS)))
            started = time.perf_counter()
            past = await store.recent(key, LIMIT)
            prompt = [ChatMessage("system", DEFAULT_SYSTEM_PROMPT), *past, ChatMessage("user", "?")]
            messages = [ROLES[m.role](content=m.content) for m in prompt]
            elapsed = time.perf_counter() - started
            if sample >= WARMUP:
                timings.append(elapsed)
            assert len(messages) == LIMIT + 2
        for _ in range(300):
            transforms.append(await _sdk_transform(prompt))
    finally:
        await db.close()
    plans = _plans(path)
    stats, sdk = summary_ms(timings), summary_ms(transforms)
    result.fakes = {"none": "in-process: SQLite file on local disk, WAL, one aiosqlite connection"}
    result.add("history read + context p50", stats["p50"], "ms")
    result.add("history read + context p99", stats["p99"], "ms", "≤ 2", stats["p99"] <= 2.0)
    result.add("groq SDK create beyond a plain post, p50 (skipped)", sdk["p50"], "ms")
    result.numbers = {
        "conversations": CONVERSATIONS,
        "messages_stored": CONVERSATIONS * TURNS * 2,
        "samples": SAMPLES,
        "context_ms": stats,
        "groq_sdk_transform_ms": sdk,
        "query_plans": plans,
        "uses_index": {name: "USING" in " ".join(plan) or not plan for name, plan in plans.items()},
    }
    return result


def _rows() -> list[tuple[str, str, str, str, str]]:
    rows = []
    for chat in range(CONVERSATIONS):
        for turn in range(TURNS):
            rows.append(("telegram", str(chat), "", "user", f"question {turn} of chat {chat}"))
            rows.append(("telegram", str(chat), "", "assistant", "An answer of a few words. " * 8))
    return rows


async def _sdk_transform(prompt: list[ChatMessage]) -> float:
    """Seconds the groq SDK's own `create` spends beyond a plain post of the same body.

    Both go through the SDK's public client to an in-process httpx transport that answers at
    once, so what differs is the SDK preparing the request (its TypedDict transform) and
    parsing the answer into models, which `core/groq/completions.py` skips.
    """
    import groq
    import httpx

    from core.groq.completions import PlainCompletions

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_COMPLETION)

    messages = [{"role": m.role, "content": m.content} for m in prompt]
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with groq.AsyncGroq(api_key="gsk_bench", http_client=http, max_retries=0) as client:
        plain = PlainCompletions(client)
        started = time.perf_counter()
        await client.chat.completions.create(messages=messages, model="openai/gpt-oss-20b")  # type: ignore[arg-type]
        sdk = time.perf_counter() - started
        started = time.perf_counter()
        await plain.create(messages=messages, model="openai/gpt-oss-20b")
        ours = time.perf_counter() - started
    return sdk - ours


_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "openai/gpt-oss-20b",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi."},
            "finish_reason": "stop",
        }
    ],
}


def _plans(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        return {
            name: [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            for name, (sql, params) in PLANS.items()
        }
