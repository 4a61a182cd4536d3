"""Soak: 1000 messages from 200 conversations on Telegram and Discord, with faults injected.

The bot runs in its own process against fake Telegram, Discord, Groq and D-ID. Before every
message, faults are injected at random (seeded): Groq 429/5xx and timeouts, D-ID 429/5xx,
Telegram 429 (per chat) and 502 on messages, drafts and edits, Discord 429. Then it counts, per
conversation: messages that got no reply (lost), replies beyond one per message (duplicated),
apologies in place of an answer (a crash line, or "couldn't show it"), videos delivered and
videos sent twice for one answer, and the bot's peak RSS. Lost, duplicated and apologies must
be 0.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from bench.common import BotProcess, Result, bot_env
from tests.fakes.did import FakeDID
from tests.fakes.discord import USER_ID, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram

TELEGRAM_CHATS = 150
DISCORD_DMS = 50
PER_CONVERSATION = 5  # 200 conversations × 5 = 1000 messages
SEED = 7
DEADLINE = 200.0
# What the bot says when it has no answer to show although the model may have written one:
# a crash, or a display that failed for good. Groq's own outages get other lines.
APOLOGIES = ("Something went wrong on my side", "couldn't show it", "wouldn't let me show")


def _inject(rng: random.Random, groq: FakeGroq, did: FakeDID, tg: FakeTelegram, dc: FakeDiscord,
            chats: list[int]) -> None:  # fmt: skip
    if rng.random() < 0.05:
        groq.fail_next("chat/completions", rng.choice([429, 500, 503]))
    if rng.random() < 0.01:
        groq.delay_next("chat/completions", 3.0)  # over GROQ_TIMEOUT_SECONDS: a timeout
    if rng.random() < 0.03:
        did.fail_next(rng.choice(["POST /talks", "GET /talks"]), rng.choice([429, 500, 503]))
    if rng.random() < 0.02:
        tg.fail_next("sendMessage", 429, retry_after=1, chat_id=rng.choice(chats))
    if rng.random() < 0.02:
        tg.fail_next(rng.choice(["sendMessage", "sendVideo"]), 502)
    if rng.random() < 0.02:
        dc.fail_next("/channels/{channel_id}/messages", 429, retry_after=0.05)
    # Streaming faults: a draft or an edit refused must never cost the answer.
    if rng.random() < 0.03:
        tg.fail_next("sendMessageDraft", 429, retry_after=1, chat_id=rng.choice(chats))
    if rng.random() < 0.02:
        tg.fail_next(rng.choice(["sendMessageDraft", "editMessageText"]), 502)


async def run(workdir: Path) -> Result:
    result = Result("soak")
    rng = random.Random(SEED)
    did_fake = FakeDID(render_seconds=0.05, credits_remaining=10**6)
    async with FakeGroq() as groq, did_fake as did:
        async with FakeTelegram() as tg, FakeDiscord() as dc:
            env = bot_env(
                workdir, groq, telegram=tg, discord=dc, did=did,
                GROQ_TIMEOUT_SECONDS="1", DID_POLL_FIRST_SECONDS="0.05",
                DID_POLL_INTERVAL_SECONDS="0.05", AVATAR_DAILY_LIMIT_PER_USER="",
                AVATAR_DAILY_LIMIT_TOTAL="", USER_MESSAGES_PER_MINUTE="",
                MESSAGES_DAILY_LIMIT_TOTAL="",
                AVATAR_DAILY_SECONDS_PER_USER="", AVATAR_DAILY_SECONDS_TOTAL="",
                AVATAR_PAUSE_SECONDS="0", DID_MAX_CONCURRENT_RENDERS="50",
            )  # fmt: skip
            chats = [30_000 + n for n in range(TELEGRAM_CHATS)]
            users = [USER_ID + 1 + n for n in range(DISCORD_DMS)]
            dms = [dc.add_dm_channel(user) for user in users]
            async with BotProcess(env, workdir) as bot:
                await tg.wait_for(lambda: tg.calls("getUpdates"), 60)
                await dc.wait_for(lambda: dc.connected, 60)
                for round_ in range(PER_CONVERSATION):
                    for chat in chats:
                        _inject(rng, groq, did, tg, dc, chats)
                        tg.push_text(chat, f"message {round_} in telegram {chat}", user_id=chat)
                    for user, channel in zip(users, dms, strict=True):
                        _inject(rng, groq, did, tg, dc, chats)
                        await dc.push_message(
                            channel, f"message {round_} in discord {channel}", author_id=user
                        )
                try:
                    await tg.wait_for(lambda: _settled(tg, dc, chats, dms), DEADLINE)
                except TimeoutError:
                    result.notes.append(f"not settled within {DEADLINE:.0f} s")
            report = bot.report
    counts = _count(tg, dc, chats, dms)
    result.fakes = {
        "groq": "echo reply, no delay; faults: 5% 429/5xx, 1% 3 s delay over a 1 s timeout",
        "d-id": "50 ms renders; 3% 429/5xx on create or poll",
        "telegram": "2% 429 (retry_after 1 s) on one chat's sendMessage, 2% 502; drafts: 3% 429"
        " (1 s) on one chat, 2% 502 on a draft or an edit",
        "discord": "2% 429 (retry_after 0.05 s) on channel messages",
        "seed": SEED,
    }
    result.numbers = counts | {"peak_rss_mb": report.get("peak_rss_mb")}
    messages = counts["messages"]
    result.add("messages sent", messages, "count")
    result.add("answered", counts["answered"], "count")
    result.add("told why not (one line)", counts["failed_lines"], "count")
    result.add("lost", counts["lost"], "count", "= 0", counts["lost"] == 0)
    result.add(
        "duplicated replies", counts["duplicated"], "count", "= 0", counts["duplicated"] == 0
    )
    result.add(
        "apologies in place of an answer", counts["apologies"], "count", "= 0",
        counts["apologies"] == 0,
    )  # fmt: skip
    result.add("videos delivered", counts["videos"], "count")
    result.add("told why no video (one line)", counts["video_notes"], "count")
    result.add("videos sent twice", counts["duplicated_videos"], "count", "= 0",
               counts["duplicated_videos"] == 0)  # fmt: skip
    if report.get("peak_rss_mb") is not None:
        result.add("bot peak RSS", float(report["peak_rss_mb"]), "MB")
    return result


def _telegram_replies(tg: FakeTelegram, chat: int) -> list[str]:
    return [
        s.text or "" for s in tg.sent(chat, "sendMessage") if not (s.text or "").startswith("🎬")
    ]


def _discord_replies(dc: FakeDiscord, channel: int) -> list[str]:
    replies = [s for s in dc.sent(channel, "message") if not s.files]
    shown = [dc.message(s.message_id or 0) for s in replies]
    return [m["content"] for m in shown if m and not m["content"].startswith("🎬")]


def _video_outcomes(tg: FakeTelegram, dc: FakeDiscord, chat: int | None, dm: int | None) -> int:
    """Videos plus one-line notes saying why there is no video."""
    if chat is not None:
        notes = sum((s.text or "").startswith("🎬") for s in tg.sent(chat, "sendMessage"))
        return len(tg.sent(chat, "sendVideo")) + notes
    assert dm is not None
    sent = dc.sent(dm, "message")
    shown = [dc.message(s.message_id or 0) for s in sent if not s.files]
    notes = sum(1 for m in shown if m and m["content"].startswith("🎬"))
    return sum(1 for s in sent if s.files) + notes


def _settled(tg: FakeTelegram, dc: FakeDiscord, chats: list[int], dms: list[int]) -> bool:
    for chat in chats:
        replies = _telegram_replies(tg, chat)
        answered = sum(r.startswith("You said") for r in replies)
        if len(replies) < PER_CONVERSATION or _video_outcomes(tg, dc, chat, None) < answered:
            return False
    for dm in dms:
        replies = _discord_replies(dc, dm)
        answered = sum(r.startswith("You said") for r in replies)
        if len(replies) < PER_CONVERSATION or _video_outcomes(tg, dc, None, dm) < answered:
            return False
    return True


def _count(tg: FakeTelegram, dc: FakeDiscord, chats: list[int], dms: list[int]) -> dict[str, int]:
    lost = duplicated = answered = failed = videos = twice = apologies = 0
    conversations = [("telegram", c, _telegram_replies(tg, c)) for c in chats]
    conversations += [("discord", d, _discord_replies(dc, d)) for d in dms]
    for platform, ident, replies in conversations:
        expected = [f"You said: message {n} in {platform} {ident}" for n in range(PER_CONVERSATION)]
        got = Counter(replies)
        answered += sum(1 for e in expected if got[e] >= 1)
        duplicated += sum(got[e] - 1 for e in expected if got[e] > 1)
        failed += sum(1 for r in replies if r.startswith("⚠️"))
        apologies += sum(1 for r in replies if any(a in r for a in APOLOGIES))
        lost += max(0, PER_CONVERSATION - len(replies))
    for chat in chats:
        targets = Counter(s.reply_to for s in tg.sent(chat, "sendVideo"))
        videos += sum(targets.values())
        twice += sum(n - 1 for n in targets.values() if n > 1)
    for channel in dms:
        refs = Counter(
            str((s.message_reference or {}).get("message_id"))
            for s in dc.sent(channel, "message")
            if s.files
        )
        videos += sum(refs.values())
        twice += sum(n - 1 for n in refs.values() if n > 1)
    total = PER_CONVERSATION * len(conversations)
    return {
        "messages": total,
        "answered": answered,
        "failed_lines": failed,
        "lost": lost,
        "duplicated": duplicated,
        "videos": videos,
        "video_notes": sum(_video_outcomes(tg, dc, c, None) for c in chats)
        + sum(_video_outcomes(tg, dc, None, d) for d in dms)
        - videos,
        "duplicated_videos": twice,
        "apologies": apologies,
    }


if __name__ == "__main__":
    import tempfile

    async def _main() -> None:
        with tempfile.TemporaryDirectory(prefix="avatarbot-soak-") as folder:
            outcome = await run(Path(folder))
        for row in outcome.rows:
            print(f"{row.metric:28} {row.shown():>10} {row.target}")

    asyncio.run(_main())
