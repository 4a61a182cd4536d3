"""Store contract tests: every store behaves the same on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import commands
from bot.settings import Settings
from bot.storage import Storage, open_storage, sqlite_path
from bot.wiring import open_core
from core.avatar.jobs import LEASE_SECONDS as JOB_LEASE_SECONDS
from core.limits import EVERYONE, AnswerHold, Limits, Reservation, month_period
from core.quota import Quotas
from core.storage.inbox import ATTACHMENTS, InboxAttachments
from core.types import AvatarJob, ChatMessage, ConversationKey, JobState
from core.usage import LLM_TOKENS, Usage

KEY = ConversationKey("telegram", "42")
TOPIC = ConversationKey("telegram", "42", "7")
MIGRATIONS = [
    "0001_initial.sql",
    "0002_reliability.sql",
    "0003_job_leases.sql",
    "0004_inbox_leases.sql",
    "0005_render_budgets.sql",
    "0006_web_keys_and_retention.sql",
    "0007_avatar_speech.sql",
    "0008_chat_preferences.sql",
    "0009_chat_faces.sql",
    "0010_script_kind.sql",
]
DAY = "2026-11-25"
NOON = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
Opener = Callable[[], Awaitable[Storage]]


async def _opener(url: str) -> AsyncIterator[Opener]:
    opened: list[Storage] = []

    async def open_again() -> Storage:
        opened.append(await open_storage(url))
        return opened[-1]

    try:
        yield open_again
    finally:
        for storage in opened:
            await storage.close()  # closing twice is harmless


@pytest.fixture
async def opener(database_url: str) -> AsyncIterator[Opener]:
    """Opens the database again and again (restarts); each one is closed after the test."""
    async for open_again in _opener(database_url):
        yield open_again


@pytest.fixture
async def pg_opener(postgres_url: str) -> AsyncIterator[Opener]:
    """Opens replicas on one PostgreSQL database; each one is closed after the test."""
    async for open_again in _opener(postgres_url):
        yield open_again


async def test_migrations_apply_once(opener: Opener) -> None:
    first = await opener()
    await first.close()
    again = await opener()
    await again.close()
    assert first.applied == MIGRATIONS
    assert again.applied == []


async def test_history_window_order_topics_and_restart(opener: Opener) -> None:
    storage = await opener()
    history = storage.history
    for n in range(5):
        await history.append(KEY, [ChatMessage("user", f"q{n}"), ChatMessage("assistant", f"a{n}")])
    await history.append(TOPIC, [ChatMessage("user", "topic question")])
    await history.append(TOPIC, [])
    recent = await history.recent(KEY, 3)
    assert [(m.role, m.content) for m in recent] == [
        ("assistant", "a3"),
        ("user", "q4"),
        ("assistant", "a4"),
    ]
    assert [m.content for m in await history.recent(TOPIC, 10)] == ["topic question"]
    assert await history.recent(KEY, 0) == []
    await storage.close()

    storage = await opener()  # a restart keeps the history
    history = storage.history
    assert len(await history.recent(KEY, 100)) == 10
    await history.clear(KEY)
    assert await history.recent(KEY, 100) == []
    assert len(await history.recent(TOPIC, 100)) == 1


async def test_history_reads_at_once_each_get_their_conversation(storage: Storage) -> None:
    keys = [ConversationKey("telegram", str(n)) for n in range(30)] + [TOPIC]
    for index, key in enumerate(keys):
        for turn in range(index % 4):
            await storage.history.append(key, [ChatMessage("user", f"{key.chat_id}:{turn}")])
    limits = [2, 3, 5] * 10 + [1]
    reads = await asyncio.gather(
        *(storage.history.recent(key, limit) for key, limit in zip(keys, limits, strict=True))
    )
    for index, (key, limit, got) in enumerate(zip(keys, limits, reads, strict=True)):
        turns = list(range(index % 4))[-limit:]
        assert [m.content for m in got] == [f"{key.chat_id}:{turn}" for turn in turns]


async def test_sqlite_history_reads_at_once_share_statements(tmp_path: Path) -> None:
    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        statements: list[str] = []
        db = storage.history._db  # type: ignore[attr-defined]
        await db.set_trace_callback(statements.append)
        keys = [ConversationKey("web", f"c{n}") for n in range(40)]
        await asyncio.gather(*(storage.history.recent(key, 20) for key in keys))
        reads = [sql for sql in statements if "FROM messages" in sql]
        assert 1 <= len(reads) < 10
    finally:
        await storage.close()


async def test_sqlite_reads_at_once_past_a_statements_limit_are_split(tmp_path: Path) -> None:
    # SQLite allows 500 terms in a UNION ALL: 600 chats reading at once take several rounds.
    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        keys = [ConversationKey("web", f"c{n}") for n in range(600)]
        await asyncio.gather(
            *(storage.history.append(k, [ChatMessage("user", k.chat_id)]) for k in keys)
        )
        reads = await asyncio.gather(*(storage.history.recent(key, 5) for key in keys))
        assert [[m.content for m in read] for read in reads] == [[k.chat_id] for k in keys]
    finally:
        await storage.close()


async def test_preferences_are_per_chat(storage: Storage) -> None:
    prefs = storage.preferences
    assert await prefs.avatar_enabled(KEY) is None
    await prefs.set_avatar_enabled(KEY, False)
    assert await prefs.avatar_enabled(TOPIC) is False  # topics share the chat's switch
    await prefs.set_avatar_enabled(KEY, True)
    assert await prefs.avatar_enabled(KEY) is True
    assert await prefs.avatar_enabled(ConversationKey("discord", "42")) is None


async def test_persona_reply_mode_and_voice_are_per_chat_and_reset_to_none(opener: Opener) -> None:
    storage = await opener()
    prefs = storage.preferences
    assert (await prefs.persona(KEY), await prefs.reply_mode(KEY), await prefs.voice_id(KEY)) == (
        None,
        None,
        None,
    )
    await prefs.set_avatar_enabled(KEY, False)
    await prefs.set_persona(KEY, "a pirate who loves tea")
    await prefs.set_reply_mode(KEY, "voice")
    await prefs.set_voice_id(KEY, "en-GB-RyanNeural")
    # Each choice is its own column: setting one leaves the others as they were.
    assert await prefs.avatar_enabled(KEY) is False
    other = ConversationKey("discord", "42")
    assert (await prefs.persona(other), await prefs.reply_mode(other)) == (None, None)
    await storage.close()
    again = (await opener()).preferences  # kept across a restart, shared by the chat's topics
    assert await again.persona(TOPIC) == "a pirate who loves tea"
    assert await again.reply_mode(TOPIC) == "voice"
    assert await again.voice_id(TOPIC) == "en-GB-RyanNeural"
    await again.set_persona(KEY, None)
    await again.set_reply_mode(KEY, "text")
    await again.set_voice_id(KEY, None)
    assert (await again.persona(KEY), await again.reply_mode(KEY)) == (None, "text")
    assert (await again.voice_id(KEY), await again.avatar_enabled(KEY)) == (None, False)


async def test_month_totals_outlive_day_pruning_until_their_month_is_over(storage: Storage) -> None:
    now = [dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)]
    usage = Usage(storage.counters, clock=lambda: now[0])
    quotas = Quotas(storage.counters, Limits(), clock=lambda: now[0])
    await usage.record("telegram:u1", LLM_TOKENS, 120)
    assert await quotas.reserve_render("telegram:u1", 4.0) is not None
    now[0] = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    await quotas.prune()  # days before Dec 2 go; a period named "2026-12" would go with them
    report = await usage.report("telegram:u1")
    assert (report.today.tokens, report.today.videos) == (0, 0)
    assert (report.month.tokens, report.month.videos, report.month.video_ms) == (120, 1, 4000)
    now[0] = dt.datetime(2027, 1, 1, 9, 0, tzinfo=dt.UTC)
    await quotas.prune()  # December is yesterday's month: kept through its last day
    assert await storage.counters.get(month_period("2026-12-31"), "telegram:u1", LLM_TOKENS) == 120
    now[0] = dt.datetime(2027, 1, 2, 9, 0, tzinfo=dt.UTC)
    await quotas.prune()
    assert await storage.counters.get(month_period("2026-12-31"), "telegram:u1", LLM_TOKENS) == 0
    assert (await usage.report("telegram:u1")).month.tokens == 0


async def test_jobs_move_through_states(storage: Storage) -> None:
    jobs = storage.jobs
    job = await jobs.create(TOPIC, "hello", target='{"message_id": 5}')
    assert job.state is JobState.QUEUED and job.key == TOPIC and isinstance(job.id, int)
    assert (job.reserved_day, job.reserved_scope, job.reserved_ms) == (None, None, 0)
    assert (job.text, job.target, job.talk_id, job.video_path, job.error) == (
        "hello",
        '{"message_id": 5}',
        None,
        None,
        None,
    )
    job = await jobs.update(job, JobState.SUBMITTED, talk_id="tlk_1")
    job = await jobs.update(job, JobState.RENDERED, video_path="/v/1.mp4", error=None)
    assert (job.state, job.talk_id, job.video_path) == (JobState.RENDERED, "tlk_1", "/v/1.mp4")
    done = await jobs.create(KEY, "other", target="")
    await jobs.update(done, JobState.DELIVERED)
    failed = await jobs.create(KEY, "third", target="")
    await jobs.update(failed, JobState.FAILED, error="boom")
    later = await jobs.create(KEY, "fourth", target="")
    assert await jobs.unfinished() == [job, later]
    with pytest.raises(ValueError):
        await jobs.update(job, JobState.FAILED, nope="x")


async def test_a_job_is_marked_as_being_submitted_once_whoever_asks(opener: Opener) -> None:
    a, b = await opener(), await opener()  # PostgreSQL: two replicas; SQLite: a restart
    queued = await a.jobs.create(KEY, "hello", "")
    failed_talk = await a.jobs.update(queued, JobState.SUBMITTED, talk_id="tlk_failed")
    queued = await a.jobs.update(failed_talk, JobState.QUEUED)  # sent again: a new face
    first, second = await asyncio.gather(a.jobs.start_submit(queued), b.jobs.start_submit(queued))
    marked = [job for job in (first, second) if job is not None]
    assert len(marked) == 1  # only one process may ask the renderer
    assert (marked[0].state, marked[0].talk_id) == (JobState.SUBMITTED, None)
    assert await a.jobs.start_submit(queued) is None  # a stale queued snapshot: not again
    assert await b.jobs.unfinished() == marked


async def test_jobs_keep_every_field_across_steps_and_restarts(opener: Opener) -> None:
    storage = await opener()
    jobs = storage.jobs
    held = Reservation(DAY, "telegram:u1", 12_500)
    job = await jobs.create(
        TOPIC,
        "Hola",
        '{"message_id": 9}',
        held,
        voice_id="es-ES-ElviraNeural",
        truncated=True,
        source_url="s3://d-id-images-prod/u/img_1/face.jpg",
        script_kind="summary",
    )
    assert job == AvatarJob(
        id=job.id,
        key=TOPIC,
        text="Hola",
        target='{"message_id": 9}',
        state=JobState.QUEUED,
        reserved_day=DAY,
        reserved_scope="telegram:u1",
        reserved_ms=12_500,
        voice_id="es-ES-ElviraNeural",
        truncated=True,
        source_url="s3://d-id-images-prod/u/img_1/face.jpg",
        script_kind="summary",
    )
    plain = await jobs.create(KEY, "hi", "")
    assert (
        plain.voice_id,
        plain.truncated,
        plain.source_url,
        plain.reserved_ms,
        plain.script_kind,
    ) == (None, False, None, 0, "start")
    moved = await jobs.update(job, JobState.RENDERED, talk_id="tlk_9", video_path="/v/9.mp4")
    assert moved == replace(job, state=JobState.RENDERED, talk_id="tlk_9", video_path="/v/9.mp4")
    failed = await jobs.update(plain, JobState.FAILED, error="FaceError: no face")
    assert failed == replace(plain, state=JobState.FAILED, error="FaceError: no face")
    await jobs.release()  # a clean stop
    await storage.close()
    again = await opener()  # a restart reads back the same jobs
    assert await again.jobs.unfinished() == [moved]
    assert await again.jobs.claim() == [moved]
    gone = AvatarJob(id=moved.id + 100, key=KEY, text="", target="", state=JobState.QUEUED)
    with pytest.raises(LookupError, match=f"avatar job {gone.id} is gone"):
        await again.jobs.update(gone, JobState.FAILED)


async def test_inbox_records_once_and_the_next_process_takes_the_unanswered(
    opener: Opener,
) -> None:
    first = await opener()
    inbox = first.inbox
    assert await inbox.last_key("telegram") is None
    assert await inbox.record("telegram", "100", '{"n": 1}') is True
    assert await inbox.record("telegram", "100", '{"n": 1}') is False  # a redelivery
    assert await inbox.record("telegram", "101", '{"n": 2}') is True
    assert await inbox.record("discord", "100", '{"d": 1}') is True  # keys are per platform
    assert await inbox.last_key("telegram") == "101"
    assert await inbox.is_answered("telegram", "100") is False
    await inbox.answered("telegram", "100")
    await inbox.answered("telegram", "nope")
    assert await inbox.is_answered("telegram", "100") is True
    assert await inbox.is_answered("telegram", "nope") is False
    assert await inbox.claim_unanswered("telegram") == []  # its own: it is answering them
    await inbox.release()  # it stops
    await first.close()
    second = await opener()
    taken = await second.inbox.claim_unanswered("telegram")
    assert [(e.platform, e.message_key, e.payload) for e in taken] == [
        ("telegram", "101", '{"n": 2}')
    ]
    assert isinstance(taken[0].id, int)
    assert await second.inbox.claim_unanswered("telegram") == []  # taken once
    assert [e.message_key for e in await second.inbox.claim_unanswered("discord")] == ["100"]


async def test_inbox_records_a_batch_in_one_go(opener: Opener) -> None:
    storage = await opener()
    inbox = storage.inbox
    assert await inbox.record("telegram", "7", '{"n": 7}') is True
    batch = [("7", '{"n": 7}'), ("8", '{"n": 8}'), ("9", '{"n": 9}'), ("8", '{"n": 8}')]
    assert await inbox.record_many("telegram", batch) == {"8", "9"}  # 7 was there; 8 twice
    assert await inbox.record_many("telegram", batch) == set()  # the whole batch redelivered
    assert await inbox.record_many("telegram", []) == set()
    assert await inbox.last_key("telegram") == "9"
    await inbox.release()
    await storage.close()
    successor = await opener()
    taken = await successor.inbox.claim_unanswered("telegram")
    assert [e.message_key for e in taken] == ["7", "8", "9"]


async def test_replicas_take_over_only_what_a_crashed_replica_held(
    postgres_url: str, pg_opener: Opener
) -> None:
    import asyncpg

    crashed, alive, starting = await pg_opener(), await pg_opener(), await pg_opener()
    clock = await asyncpg.connect(postgres_url)

    async def lapse(*keys: str) -> None:
        """Time passes for these messages' leases: they lapsed a second ago."""
        await clock.execute(
            "UPDATE inbox SET lease_until = now() - interval '1 second'"
            " WHERE message_key = ANY($1::text[])",
            list(keys),
        )

    try:
        await crashed.inbox.record_many("web", [("a", "{}"), ("b", "{}")])
        await alive.inbox.record("web", "c", "{}")
        # While their leases hold, a starting replica answers none of them.
        assert await starting.inbox.claim_unanswered("web") == []
        await lapse("a", "b", "c")
        await alive.inbox.renew()  # the live replica renews in time; the crashed one cannot
        taken = await starting.inbox.claim_unanswered("web")
        assert [e.message_key for e in taken] == ["a", "b"]
        assert await alive.inbox.claim_unanswered("web") == []  # now held by `starting`
        await alive.inbox.answered("web", "c")
        await lapse("c")
        assert await starting.inbox.claim_unanswered("web") == []  # answered: nothing to take
        await starting.inbox.release()  # a clean stop hands its messages over at once
        assert [e.message_key for e in await alive.inbox.claim_unanswered("web")] == ["a", "b"]
    finally:
        await clock.close()


async def test_counters_add_get_and_prune(storage: Storage) -> None:
    counters = storage.counters
    assert await counters.get("2026-11-25", "*", "messages") == 0
    assert await counters.add("2026-11-25", "*", "messages") == 1
    assert await counters.add("2026-11-25", "*", "messages", 4) == 5
    rows = [("2026-11-25", "*", "messages"), ("2026-11-25T10:00", "u1", "messages")]
    assert await counters.add_many(rows) == [6, 1]
    assert await counters.add_many(rows[1:] * 2) == [3, 3]  # one counter twice: both see 3
    await counters.add("2026-11-24", "*", "renders")
    await counters.add("2026-11-24T23:59", "u1", "messages")
    await counters.prune("2026-11-25")  # a day's minutes sort after the day itself
    assert await counters.get("2026-11-24", "*", "renders") == 0
    assert await counters.get("2026-11-24T23:59", "u1", "messages") == 0
    assert await counters.get("2026-11-25", "*", "messages") == 6
    assert await counters.get("2026-11-25T10:00", "u1", "messages") == 3


async def test_quotas_on_the_counters(storage: Storage) -> None:
    now = [dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC)]
    limits = Limits(renders_per_user=1, messages_per_minute=2)
    quotas = Quotas(storage.counters, limits, clock=lambda: now[0])
    assert [await quotas.admit_message("u1") for _ in range(3)][:2] == [None, None]
    assert await quotas.admit_message("u1") is not None
    assert await quotas.reserve_render("u1", 16.5) == Reservation(DAY, "u1", 16_500)
    refusal = await quotas.reserve_render("u1", 1)
    assert isinstance(refusal, str) and "reset in 30 min" in refusal
    await quotas.note("errors")
    assert await quotas.today() == {
        "messages": 4,
        "answers": 0,
        "renders": 1,
        "render_ms": 16_500,
        "render_credits": 2,  # 16.5 s: two started 15 s
        "errors": 1,
        "refusals": 0,
    }
    now[0] += dt.timedelta(hours=1)
    assert isinstance(await quotas.reserve_render("u1", 1), Reservation)


@pytest.mark.parametrize(
    "limits",
    [Limits(renders_total=5), Limits(seconds_total=20), Limits(seconds_per_user=20)],
    ids=["videos", "seconds", "one user's seconds"],
)
async def test_reservations_at_once_never_pass_a_budget(storage: Storage, limits: Limits) -> None:
    quotas = Quotas(storage.counters, limits, clock=lambda: NOON)
    # One user for a per-user budget, a hundred users for the others; 4 s each: 5 fit in 20 s.
    users = ["u0"] * 100 if limits.seconds_per_user else [f"u{n}" for n in range(100)]
    held = await asyncio.gather(*(quotas.reserve_render(user, 4) for user in users))
    granted = [r for r in held if isinstance(r, Reservation)]
    assert len(granted) == 5
    assert all(
        isinstance(r, str) and r.startswith("No video this time") for r in held if r not in granted
    )
    counters = storage.counters
    assert await counters.get(DAY, EVERYONE, "renders") == 5
    assert await counters.get(DAY, EVERYONE, "render_ms") == 20_000
    assert await counters.get(DAY, EVERYONE, "render_credits") == 5
    per_user = [await counters.get(DAY, user, "render_ms") for user in sorted(set(users))]
    assert sum(per_user) == 20_000  # a refused user's own count is unchanged


async def test_the_days_answers_held_at_once_never_pass_the_total(storage: Storage) -> None:
    quotas = Quotas(storage.counters, Limits(messages_total=7), clock=lambda: NOON)
    held = await asyncio.gather(*(quotas.hold_answer() for _ in range(60)))
    granted = [h for h in held if isinstance(h, AnswerHold)]
    assert len(granted) == 7 and granted[0] == AnswerHold(DAY)
    refused = [h for h in held if not isinstance(h, AnswerHold)]
    assert all(h.startswith("I've answered all") for h in refused) and len(refused) == 53
    assert await storage.counters.get(DAY, EVERYONE, "answers") == 7
    await asyncio.gather(*(quotas.give_back_answer(h) for h in granted[:2]))
    again = await asyncio.gather(*(quotas.hold_answer() for _ in range(5)))
    assert sum(isinstance(h, AnswerHold) for h in again) == 2  # exactly the two given back
    assert (await quotas.today())["answers"] == 7


async def test_a_refusal_by_one_limit_leaves_the_others_unchanged(storage: Storage) -> None:
    limits = Limits(renders_per_user=1, renders_total=2, seconds_per_user=30, seconds_total=60)
    quotas = Quotas(storage.counters, limits, clock=lambda: NOON)
    counters = storage.counters

    async def counts(user: str) -> list[int]:
        names = ("renders", "render_ms")
        return [await counters.get(DAY, scope, n) for scope in (user, EVERYONE) for n in names]

    assert isinstance(await quotas.reserve_render("u1", 10), Reservation)
    assert await counts("u1") == [1, 10_000, 1, 10_000]  # the user's and the total, together
    # u1's own video limit refuses: the total is left as it was.
    assert "your 1 avatar videos" in str(await quotas.reserve_render("u1", 10))
    assert await counts("u1") == [1, 10_000, 1, 10_000]
    # u2's own seconds limit refuses a 31 s video.
    refused = await quotas.reserve_render("u2", 31)
    assert "needs about 31 s of video and you have 30 s left today" in str(refused)
    assert await counts("u2") == [0, 0, 1, 10_000]
    assert isinstance(await quotas.reserve_render("u2", 25), Reservation)
    # The total refuses u3 (2 videos today): u3's own counts stay at zero.
    assert "today's avatar videos are all used" in str(await quotas.reserve_render("u3", 1))
    assert await counts("u3") == [0, 0, 2, 35_000]


async def test_a_refund_gives_the_reservation_back_once_also_after_a_restart(
    opener: Opener,
) -> None:
    storage = await opener()
    quotas = Quotas(storage.counters, Limits(renders_total=2), clock=lambda: NOON)
    kept = await quotas.reserve_render("u1", 20)
    held = await quotas.reserve_render("u2", 40)
    assert isinstance(kept, Reservation) and isinstance(held, Reservation)
    job = await storage.jobs.create(KEY, "hello", "", reservation=held)
    assert (job.reserved_day, job.reserved_scope, job.reserved_ms) == (DAY, "u2", 40_000)
    assert Reservation.of(job) == held
    assert await quotas.reserve_render("u3", 1) == (
        "No video this time: today's avatar videos are all used; they reset in 12 h 0 min."
    )
    await storage.close()

    storage = await opener()  # a restart: the job still knows its reservation
    quotas = Quotas(storage.counters, Limits(renders_total=2), clock=lambda: NOON)
    (resumed,) = await storage.jobs.unfinished()
    assert Reservation.of(resumed) == held
    assert await quotas.refund(resumed) is True
    assert await quotas.today() | {"messages": 0} == {
        "messages": 0,
        "answers": 0,
        "renders": 1,
        "render_ms": 20_000,
        "render_credits": 2,  # the 20 s video: 2 credits; the 40 s one's 3 are back
        "errors": 0,
        "refusals": 0,
    }
    assert await storage.counters.get(DAY, "u2", "render_ms") == 0
    await storage.close()

    storage = await opener()
    quotas = Quotas(storage.counters, Limits(renders_total=2), clock=lambda: NOON)
    assert await quotas.refund(resumed) is False  # once: not again after another restart
    assert await storage.counters.get(DAY, EVERYONE, "renders") == 1
    assert await storage.counters.get(DAY, EVERYONE, "render_ms") == 20_000
    assert await quotas.refund(await storage.jobs.create(KEY, "no budget", "")) is False
    assert isinstance(await quotas.reserve_render("u3", 1), Reservation)  # room again


async def test_counters_add_within_limits_and_never_below_zero(storage: Storage) -> None:
    from core.limits import Charge

    counters = storage.counters
    first = [Charge(DAY, "a", "x", 3, limit=5), Charge(DAY, "b", "x", 7)]
    assert await counters.add_within(first) is None
    assert await counters.add_within([Charge(DAY, "b", "x", 1), Charge(DAY, "a", "x", 3, 5)]) == 1
    assert [await counters.get(DAY, s, "x") for s in "ab"] == [3, 7]  # all or nothing
    assert (
        await counters.add_within([Charge(DAY, "a", "x", -10), Charge(DAY, "c", "x", -1)]) is None
    )
    assert [await counters.get(DAY, s, "x") for s in "abc"] == [0, 7, 0]
    assert await counters.add_within([]) is None
    with pytest.raises(ValueError, match="once per call"):
        await counters.add_within([Charge(DAY, "a", "x", 1), Charge(DAY, "a", "x", 1)])


def settings_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("GROQ_API_KEY", "gsk_x")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]


def test_database_url_chooses_the_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = settings_with(monkeypatch, tmp_path, DATABASE_PATH="data/x.db", DATABASE_URL=" ")
    assert default.database_url == "sqlite:///data/x.db"
    assert sqlite_path(default.database_url) == Path("data/x.db")
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    pg = settings_with(monkeypatch, tmp_path, DATABASE_URL="postgresql://bot:s3cret@db:5432/bot")
    assert sqlite_path(pg.database_url) is None
    assert "s3cret" in pg.secrets() and "postgresql://bot:s3cret@db:5432/bot" in pg.secrets()
    assert "s3cret" not in repr(pg)
    monkeypatch.setenv("DATABASE_URL", "mysql://db/bot")
    with pytest.raises(ValidationError, match="sqlite:///path or postgresql://"):
        Settings()  # type: ignore[call-arg]


async def test_migrate_command_and_core_on_the_database_url(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_with(monkeypatch, tmp_path, DATABASE_URL=database_url)
    assert await commands.migrate(settings) == 0
    assert await commands.migrate(settings) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"applied: {', '.join(MIGRATIONS)}",
        "database is up to date",
    ]
    async with open_core(settings) as core:
        assert await core.inbox.record("telegram", "1", "{}") is True
        assert core.storage.applied == []


async def test_postgres_replicas_claim_disjoint_jobs_and_take_over_lapsed_leases(
    postgres_url: str, pg_opener: Opener
) -> None:
    import asyncpg

    a, b = await pg_opener(), await pg_opener()
    key = ConversationKey("telegram", "1")
    held = await a.jobs.create(key, "held by a", "")
    await a.jobs.release()
    free = [await b.jobs.create(key, f"free {n}", "") for n in range(10)]
    await b.jobs.release()
    first, second = await asyncio.gather(a.jobs.claim(), b.jobs.claim())
    ids_a, ids_b = {j.id for j in first}, {j.id for j in second}
    assert not ids_a & ids_b  # SKIP LOCKED: no job goes to two replicas
    assert ids_a | ids_b == {j.id for j in [held, *free]}
    assert not ids_a & {j.id for j in await b.jobs.claim()}  # a's own stay a's
    lapsing = await a.jobs.create(key, "a crashed: its lease lapses", "")
    assert lapsing.id not in {j.id for j in await b.jobs.claim()}  # held by a while it lives
    clock = await asyncpg.connect(postgres_url)
    try:  # time passes: a's leases lapsed a second ago
        await clock.execute(
            "UPDATE avatar_jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
            lapsing.id,
        )
    finally:
        await clock.close()
    taken = await b.jobs.claim()
    assert "a crashed: its lease lapses" in {j.text for j in taken}
    await b.jobs.release()
    assert {j.id for j in await a.jobs.claim()} >= ids_b  # released: free


async def test_postgres_job_leases_are_renewed_by_their_replica_only(
    postgres_url: str, pg_opener: Opener
) -> None:
    import asyncpg

    a, b = await pg_opener(), await pg_opener()
    mine = await a.jobs.create(KEY, "a is rendering it", "")
    done = await a.jobs.create(KEY, "delivered", "")
    await a.jobs.update(done, JobState.DELIVERED)
    theirs = await b.jobs.create(KEY, "b is rendering it", "")
    clock = await asyncpg.connect(postgres_url)

    async def lease_seconds() -> dict[int, float | None]:
        """Each job's lease as seconds from now (None: held by no one)."""
        rows = await clock.fetch(
            "SELECT id, extract(epoch FROM lease_until - now())::float8 FROM avatar_jobs"
        )
        return {row[0]: row[1] for row in rows}

    try:
        await clock.execute("UPDATE avatar_jobs SET lease_until = now() - interval '1 second'")
        await a.jobs.renew()  # a is alive: its unfinished job is its own again
        left = await lease_seconds()
        renewed, delivered, other = left[mine.id], left[done.id], left[theirs.id]
        assert renewed is not None and JOB_LEASE_SECONDS - 30 < renewed <= JOB_LEASE_SECONDS
        assert delivered is not None and delivered < 0  # a finished job needs no lease
        assert other is not None and other < 0
        assert [j.id for j in await b.jobs.claim()] == [theirs.id]  # a's stays a's
        await a.jobs.release()
        assert (await lease_seconds())[mine.id] is None
        assert [j.id for j in await b.jobs.claim()] == [mine.id, theirs.id]
        await b.jobs.release()
        assert [j.id for j in await a.jobs.claim()] == [mine.id, theirs.id]  # a's now
        await a.jobs.release()  # what a claimed, it can give up
        assert [j.id for j in await b.jobs.claim()] == [mine.id, theirs.id]
    finally:
        await clock.close()


async def test_postgres_migrations_leave_no_advisory_lock_held(
    postgres_url: str, pg_opener: Opener
) -> None:
    import asyncpg

    first = await pg_opener()
    assert first.applied == MIGRATIONS
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        # A second replica starting after it takes the lock at once, and finds nothing to do.
        assert (await asyncio.wait_for(pg_opener(), 10)).applied == []
        assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    finally:
        await conn.close()


async def test_server_keys_are_made_once_and_kept_across_restarts(opener: Opener) -> None:
    storage = await opener()
    first = await storage.keys.get("web-session")
    assert len(first) == 64 and set(first) <= set("0123456789abcdef")
    assert await storage.keys.get("web-session") == first
    other = await storage.keys.get("webhook")
    assert other != first
    await storage.close()
    again = await opener()
    assert (await again.keys.get("web-session"), await again.keys.get("webhook")) == (first, other)


async def test_an_attachment_is_kept_under_its_messages_name_until_dropped(
    tmp_path: Path,
) -> None:
    attachments = InboxAttachments(tmp_path)
    name = await attachments.put("web", "c/t1", b"voice bytes")
    assert name == InboxAttachments.name("web", "c/t1")  # found again after a restart
    assert len(name) == 36 and name.endswith(".bin") and InboxAttachments.name_is_ours(name)
    assert (
        len({name, InboxAttachments.name("web", "c/t2"), InboxAttachments.name("tg", "c/t1")}) == 3
    )
    assert [p.name for p in (tmp_path / ATTACHMENTS).iterdir()] == [name]  # no .part left
    assert await InboxAttachments(tmp_path).get(name) == b"voice bytes"
    assert await attachments.put("web", "c/t1", b"again") == name  # a redelivery overwrites
    assert await attachments.get(name) == b"again"
    await attachments.drop(name)
    assert await attachments.get(name) is None
    await attachments.drop(name)  # already gone: nothing to do
    assert list((tmp_path / ATTACHMENTS).iterdir()) == []


@pytest.mark.parametrize(
    "name",
    ["../bot.db", f"../{'a' * 32}.bin", f"{'A' * 32}.bin", f"{'a' * 31}.bin", f"{'a' * 32}.bin\n"],
    ids=["a path", "a path to a good name", "upper case", "too short", "a new line after"],
)
async def test_an_attachment_name_that_is_not_ours_is_never_read_or_deleted(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / ATTACHMENTS).mkdir()
    target = tmp_path / ATTACHMENTS / name  # "../": beside the attachments folder
    target.write_bytes(b"not an attachment")
    attachments = InboxAttachments(tmp_path)
    assert not InboxAttachments.name_is_ours(name)
    assert await attachments.get(name) is None
    await attachments.drop(name)
    assert target.read_bytes() == b"not an attachment"


async def test_a_counter_may_be_charged_once_per_call(storage: Storage) -> None:
    from core.limits import Charge

    twice = [Charge(DAY, "u1", "renders", 1), Charge(DAY, "u1", "renders", 1)]
    with pytest.raises(ValueError, match="charged once per call"):
        await storage.counters.add_within(twice)
    assert await storage.counters.add_within([]) is None
    assert await storage.counters.get(DAY, "u1", "renders") == 0


async def test_counter_charges_at_once_in_any_order_never_deadlock(storage: Storage) -> None:
    from core.limits import Charge

    names = [f"n{k}" for k in range(6)]

    def charges(order: list[str]) -> list[Charge]:
        return [Charge(DAY, "u", name, 1, limit=1000) for name in order]

    # Each call locks every counter it charges; in opposite orders two calls would wait on
    # each other, unless each locks them in the same (key) order.
    calls = [charges(names if n % 2 else names[::-1]) for n in range(40)]
    results = await asyncio.gather(*(storage.counters.add_within(c) for c in calls))
    assert results == [None] * 40
    assert [await storage.counters.get(DAY, "u", name) for name in names] == [40] * 6


async def test_additions_at_once_each_get_the_count_they_reached(storage: Storage) -> None:
    counters, amounts = storage.counters, (1, 2, 4)
    reached = await asyncio.gather(*(counters.add(DAY, "u1", "tokens", n) for n in amounts))
    # As if one after another: each saw the count before it plus its own amount.
    assert max(reached) == 7 and len(set(reached)) == 3
    assert all(count - n in {0, *reached} for n, count in zip(amounts, reached, strict=True))
    many = await asyncio.gather(
        counters.add_many([(DAY, "u1", "a"), (DAY, "u1", "b")]),
        counters.add_many([(DAY, "u1", "b")]),
    )
    assert sorted(many[0][1:] + many[1]) == [1, 2] and many[0][0] == 1
    assert await counters.get(DAY, "u1", "b") == 2
