"""Avatar renders are durable jobs: a restart at any step delivers each video exactly once."""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.storage import Storage, open_storage
from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from core.avatar.jobs import AvatarJobs
from core.avatar.script import spoken_script
from core.limits import Limits, Reservation
from core.quota import Quotas
from core.types import AvatarFailed, AvatarJob, ConversationKey, JobState, Script, VideoReady
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal

KEY = ConversationKey("terminal", "local")

GROQ_REPLY = "Here is your answer."  # what the fake model answers (tests/conftest.py)


async def test_render_interrupted_after_submission_resumes_polling(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    did.hold_renders = True
    async with terminal(settings) as (chat, first, core):
        await chat.handle("Hello")
        await did.wait_for(lambda: any(t.polls for t in did.talks.values()))
        (job,) = await core.jobs._store.unfinished()  # type: ignore[union-attr]
    # The process is gone (its workers cancelled); the database remembers the talk.
    assert job.state is JobState.SUBMITTED and job.talk_id in did.talks
    assert "avatar video ready" not in first.text
    did.release_all()
    async with terminal(settings) as (_, second, core):
        await second.wait_for("avatar video ready")
        assert await core.jobs._store.unfinished() == []  # type: ignore[union-attr]
    async with terminal(settings) as (chat, third, _):
        await chat.handle("/help")  # a third start delivers nothing again
    assert len(did.calls("/talks", "POST")) == 1
    assert second.text.count("avatar video ready") == 1
    assert "avatar video ready" not in third.text


async def test_job_recorded_but_never_sent_is_submitted_on_start(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    async with terminal(settings) as (_, _, core):
        await core.jobs._store.create(KEY, "hello", "")  # type: ignore[union-attr]
        # The process dies here, before the job's worker asks D-ID.
    async with terminal(settings) as (_, screen, _):
        await screen.wait_for("avatar video ready")
    assert screen.text.count("avatar video ready") == 1
    assert len(did.calls("/talks", "POST")) == 1


async def test_a_job_cut_off_while_d_id_was_asked_is_not_sent_again_and_keeps_its_budget(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    seconds = spoken_script(GROQ_REPLY, settings.AVATAR_MAX_SECONDS).seconds
    did.delay_next("POST /talks", 30)  # the process dies before D-ID answers; D-ID goes on
    async with terminal(settings) as (chat, _, core):
        await chat.handle("Hello")
        await did.wait_for(lambda: len(did.calls("/talks", "POST")) == 1)
        (job,) = await core.jobs._store.unfinished()  # type: ignore[union-attr]
        assert job.state is JobState.SUBMITTED and job.talk_id is None
    async with terminal(settings) as (_, screen, core):
        await screen.wait_for("couldn't be made")
        # D-ID may bill the talk it was asked for: its video stays counted.
        video = f"1 videos of {seconds:.1f} s in all (≈ 1 D-ID credits)"
        assert video in await core.conversations.stats()
        assert await core.jobs._store.unfinished() == []  # type: ignore[union-attr]
    assert len(did.calls("/talks", "POST")) == 1  # never a second talk for one answer
    assert "avatar video ready" not in screen.text


async def test_rendered_video_is_delivered_without_calling_did_again(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    video = tmp_path / "saved.mp4"
    video.write_bytes(did.video)
    async with terminal(settings) as (_, _, core):
        store = core.jobs._store  # type: ignore[union-attr]
        job = await store.create(KEY, "hello", "")
        await store.update(job, JobState.RENDERED, talk_id="tlk_gone", video_path=str(video))
    async with terminal(settings) as (_, screen, _):
        await screen.wait_for("avatar video ready")
    assert f"avatar video ready: {video}" in screen.text
    assert did.requests == []


async def test_lost_video_file_is_fetched_again(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    async with terminal(settings) as (chat, screen, core):
        await chat.handle("Hello")
        await screen.wait_for("avatar video ready")
        store = core.jobs._store  # type: ignore[union-attr]
        (talk_id,) = did.talks
        job = await store.create(KEY, "hello", "")
        await store.update(job, JobState.RENDERED, talk_id=talk_id, video_path="/nonexistent.mp4")
    async with terminal(settings) as (_, screen, _):
        await screen.wait_for("avatar video ready")
    assert did.talks[talk_id].downloads == 2


# -- the video budget: given back when D-ID fails the render, kept once it rendered ----------

NOON = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
DAY = "2026-11-25"
USER = "terminal:u1"


class Delivery:
    """A platform's delivery (the VideoDelivery port) that can break; records what users see."""

    def __init__(self) -> None:
        self.videos: list[VideoReady] = []
        self.failures: list[AvatarFailed] = []
        self.broken = False
        self._changed = asyncio.Event()

    async def deliver_video(self, ready: VideoReady) -> None:
        if self.broken:
            raise ConnectionError("the platform is down")
        self.videos.append(ready)
        self._changed.set()

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        self.failures.append(failed)
        self._changed.set()

    async def wait_for_end(self) -> None:
        async with asyncio.timeout(5):
            while not self.videos and not self.failures:
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Rig:
    """The real job runner on a real SQLite store, D-ID's client on the fake, the real quotas."""

    jobs: AvatarJobs
    quotas: Quotas
    storage: Storage
    delivery: Delivery

    async def budget(self) -> list[int]:
        """Today's videos, milliseconds and credits for everyone, and the user's own."""
        counters = self.storage.counters
        names = ("renders", "render_ms", "render_credits")
        return [await counters.get(DAY, "*", n) for n in names] + [
            await counters.get(DAY, USER, n) for n in names[:2]
        ]


@pytest.fixture
async def rig(tmp_path: Path, did: FakeDID) -> AsyncIterator[Rig]:
    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        # A D-ID answer held by the fake times out soon; every other comes within milliseconds.
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=2.0)) as http:
            renderer = DIDClient(
                http,
                api_key=did.api_key,
                base_url=did.base_url,
                source_url="https://example.com/face.jpg",
                voice_id="en-US-JennyNeural",
                schedule=PollSchedule(first=0.01, interval=0.01, timeout=0.5),
                backoff=0,
            )
            quotas = Quotas(storage.counters, Limits(renders_per_user=5), clock=lambda: NOON)
            delivery = Delivery()
            jobs = AvatarJobs(
                storage.jobs,
                renderer,
                tmp_path / "media",
                delivery_backoff=0,
                budget=quotas,
            )
            await jobs.start({"terminal": delivery})
            try:
                yield Rig(jobs, quotas, storage, delivery)
            finally:
                await jobs.aclose()
    finally:
        await storage.close()


async def submit(rig: Rig, seconds: float) -> AvatarJob:
    held = await rig.quotas.reserve_render(USER, seconds)
    assert isinstance(held, Reservation)
    return await rig.jobs.submit(KEY, Script("Here is your answer."), "", held)


@pytest.mark.parametrize(
    "fail",
    [
        lambda did: did.next_outcome("error", kind="FaceError", description="no face found"),
        lambda did: did.next_outcome("rejected"),
        lambda did: did.fail_next("POST /talks", 400),
        lambda did: did.fail_next("POST /talks", 451),
        lambda did: setattr(did, "credits_remaining", 0),  # 402
    ],
    ids=["talk error", "talk rejected", "submit refused", "moderation", "no credits"],
)
async def test_a_render_d_id_fails_gives_its_budget_back_once(
    rig: Rig, did: FakeDID, fail: Callable[[FakeDID], object]
) -> None:
    kept = await rig.quotas.reserve_render(USER, 20)  # another video's budget, held on
    assert isinstance(kept, Reservation)
    before = await rig.budget()
    assert before == [1, 20_000, 2, 1, 20_000]
    fail(did)
    credits = did.credits_remaining
    job = await submit(rig, 40)  # reserved: 2 videos, 60 s, 5 credits in all
    await rig.delivery.wait_for_end()
    assert rig.delivery.videos == [] and len(rig.delivery.failures) == 1
    assert await rig.budget() == before  # given back, and only this render's share
    assert await rig.quotas.refund(job) is False  # once
    assert await rig.budget() == before
    assert await rig.storage.jobs.unfinished() == []
    assert did.credits_remaining == credits  # D-ID billed nothing either


@pytest.mark.parametrize(
    "fault",
    [
        lambda did: setattr(did, "hold_renders", True),  # never done: the wait times out
        lambda did: did.fail_next("POST /talks", 504, processed=True),  # its gateway gave up
        lambda did: did.delay_next("POST /talks", 30),  # its answer never came in time
    ],
    ids=["wait timed out", "gateway timeout", "answer timed out"],
)
async def test_a_render_d_id_may_still_make_keeps_its_budget(
    rig: Rig, did: FakeDID, fault: Callable[[FakeDID], object]
) -> None:
    fault(did)
    await submit(rig, 40)
    await rig.delivery.wait_for_end()
    assert rig.delivery.videos == [] and len(rig.delivery.failures) == 1
    assert await rig.budget() == [1, 40_000, 3, 1, 40_000]  # D-ID may bill it: kept
    assert len(did.calls("/talks", "POST")) == 1  # and it was asked once
    assert await rig.storage.jobs.unfinished() == []


async def test_a_video_rendered_but_not_delivered_keeps_its_budget(rig: Rig, did: FakeDID) -> None:
    rig.delivery.broken = True
    await submit(rig, 1.6)
    await rig.delivery.wait_for_end()
    assert "couldn't send the avatar video" in rig.delivery.failures[0].message
    assert await rig.budget() == [1, 1_600, 1, 1, 1_600]  # D-ID billed it: it stays spent
    assert did.credits_used == 1


async def test_a_video_whose_download_failed_keeps_its_budget(rig: Rig, did: FakeDID) -> None:
    did.expire_results = True  # rendered, but its result URL answers 403
    await submit(rig, 1.6)
    await rig.delivery.wait_for_end()
    assert len(rig.delivery.failures) == 1
    assert await rig.budget() == [1, 1_600, 1, 1, 1_600]
    assert did.credits_used == 1


async def test_a_failure_seen_after_a_restart_gives_the_budget_back_once(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    # The spoken script's estimate of "Here is your answer.", reserved per video.
    seconds = spoken_script(GROQ_REPLY, settings.AVATAR_MAX_SECONDS).seconds
    video = f"1 videos of {seconds:.1f} s in all (≈ 1 D-ID credits)"
    async with terminal(settings) as (chat, screen, core):
        await chat.handle("Hello")
        await screen.wait_for("avatar video ready")
        did.hold_renders = True
        did.next_outcome("error", kind="FaceError", description="no face found")
        await chat.handle("Again")
        await did.wait_for(lambda: any(t.polls for t in did.talks.values() if t.held))
        both = f"2 videos of {2 * seconds:.1f} s in all (≈ 2 D-ID credits)"
        assert both in await core.conversations.stats()
    # The process is gone with the render pending; D-ID fails it meanwhile.
    did.release_all()
    async with terminal(settings) as (_, screen, core):
        await screen.wait_for("couldn't be made")
        assert video in await core.conversations.stats()
    async with terminal(settings) as (chat, screen, core):
        await chat.handle("/help")
        assert video in await core.conversations.stats()  # not given back twice
    assert "couldn't be made" not in screen.text
    assert did.credits_remaining == 99  # D-ID billed the one video it rendered
