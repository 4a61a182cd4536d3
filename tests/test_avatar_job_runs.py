"""AvatarJobs driven directly: the real SQLite job store, a scripted renderer and a recording
delivery. Each way a render ends (delivered, dropped, failed with or without a refund), the
retries of a delivery, the pause after a service fault and what the user is told of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.storage import Storage, open_storage
from core.avatar.jobs import AvatarJobs, PermanentDeliveryError
from core.avatar.ports import JobStore
from core.errors import (
    BadInputError,
    ConfigurationError,
    OutOfCreditsError,
    ServiceError,
    TalkFailedError,
    UnavailableError,
    UserFacingError,
)
from core.types import (
    AvatarFailed,
    AvatarJob,
    ConversationKey,
    JobState,
    Script,
    VideoReady,
)
from tests.unit.test_conversations import RecordingMetrics

KEY = ConversationKey("memory", "c1")
OTHER = ConversationKey("memory", "c2")
VIDEO = b"\x00\x00\x00\x18ftypmp42 the video"


class ScriptedRenderer:
    """AvatarRenderer: talks `tlk_<n>`; `fail` maps a step to the error it raises once.
    `submitted` holds each render's (text, voice, face url)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str | None, str | None]] = []
        self.waited: list[str] = []
        self.downloaded: list[str] = []
        self.fail: dict[str, Exception] = {}
        self.gate: asyncio.Event | None = None  # when set, `wait` waits for it

    def _raise(self, step: str) -> None:
        if error := self.fail.pop(step, None):
            raise error

    async def submit(
        self, text: str, voice_id: str | None = None, source_url: str | None = None
    ) -> str:
        self.submitted.append((text, voice_id, source_url))
        self._raise("submit")
        return f"tlk_{len(self.submitted)}"

    async def wait(self, talk_id: str) -> str:
        self.waited.append(talk_id)
        if self.gate is not None:
            await self.gate.wait()
        self._raise("wait")
        return f"https://d-id.example/{talk_id}.mp4"

    async def download(self, url: str) -> bytes:
        self.downloaded.append(url)
        self._raise("download")
        return VIDEO


class RecordingDelivery:
    """VideoDelivery: notes the videos (with their bytes) and failures; `fail` raises in turn."""

    def __init__(self) -> None:
        self.videos: list[tuple[int, bytes]] = []
        self.failures: list[tuple[int, str]] = []
        self.failed: list[AvatarFailed] = []
        self.fail: list[Exception] = []
        self.delivered = asyncio.Event()

    async def deliver_video(self, ready: VideoReady) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.videos.append((ready.job.id, ready.path.read_bytes()))
        self.delivered.set()

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        self.failures.append((failed.job.id, failed.message))
        self.failed.append(failed)
        self.delivered.set()


class RecordingBudget:
    """RenderBudget: gives each job's budget back once."""

    def __init__(self) -> None:
        self.refunded: list[int] = []

    async def refund(self, job: AvatarJob) -> bool:
        if job.id in self.refunded:
            return False
        self.refunded.append(job.id)
        return True


class Rig:
    def __init__(self, storage: Storage, tmp_path: Path) -> None:
        self.storage, self.media = storage, tmp_path / "media"
        self.renderer, self.delivery = ScriptedRenderer(), RecordingDelivery()
        self.budget, self.metrics = RecordingBudget(), RecordingMetrics()
        self.jobs = self.make()

    def make(self, **options: float) -> AvatarJobs:
        return AvatarJobs(
            self.storage.jobs,
            self.renderer,
            self.media,
            delivery_backoff=0,
            metrics=self.metrics,
            budget=self.budget,
            **options,  # type: ignore[arg-type]
        )

    async def start(self, jobs: AvatarJobs | None = None) -> int:
        return await (jobs or self.jobs).start({"memory": self.delivery})

    async def settle(self, jobs: AvatarJobs | None = None) -> None:
        await until(lambda: not (jobs or self.jobs).running)

    async def state(self, job: AvatarJob) -> JobState | None:
        unfinished = {j.id: j.state for j in await self.storage.jobs.unfinished()}
        return unfinished.get(job.id)

    def renders(self) -> list[str]:
        return [call[1] for call in self.metrics.calls if call[0] == "render"]  # type: ignore[misc]


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition` until it holds, for at most about 10 s (the store's writes and the video
    files go through threads, which a loaded machine may take a while to run)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


@asynccontextmanager
async def job_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A rig on a fresh SQLite file; its jobs and the database are closed afterwards."""
    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.db'}")
    rig = Rig(storage, tmp_path)
    try:
        yield rig
    finally:
        await rig.jobs.aclose()
        await storage.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with job_rig(tmp_path) as opened:
        yield opened


async def test_a_job_waits_for_the_start_then_is_rendered_and_delivered(rig: Rig) -> None:
    job = await rig.jobs.submit(KEY, Script("Hello.", "voice-1"), "target-1")
    assert (job.state, job.text, job.target, job.voice_id) == (
        JobState.QUEUED,
        "Hello.",
        "target-1",
        "voice-1",
    )
    assert rig.jobs.running == 0 and rig.renderer.submitted == []
    assert await rig.start() == 1
    assert rig.jobs.deliveries == {"memory": rig.delivery}
    await rig.settle()
    assert rig.renderer.submitted == [("Hello.", "voice-1", None)]
    assert rig.renderer.waited == ["tlk_1"]
    assert rig.renderer.downloaded == ["https://d-id.example/tlk_1.mp4"]
    assert rig.delivery.videos == [(job.id, VIDEO)]
    assert (rig.media / f"avatar-{job.id}.mp4").read_bytes() == VIDEO
    assert await rig.state(job) is None  # delivered: not unfinished
    assert rig.renders() == ["submitted", "delivered"]
    assert rig.budget.refunded == []


async def test_starting_twice_is_a_mistake(rig: Rig) -> None:
    await rig.start()
    with pytest.raises(RuntimeError, match="started twice"):
        await rig.start()


async def test_a_job_of_a_platform_without_a_delivery_is_kept_for_later(rig: Rig) -> None:
    await rig.start()
    job = await rig.jobs.submit(ConversationKey("elsewhere", "c"), Script("Hi."), "t")
    assert rig.jobs.running == 0 and rig.renderer.submitted == []
    assert await rig.state(job) is JobState.QUEUED


async def test_a_delivery_that_fails_is_tried_again(rig: Rig) -> None:
    await rig.start()
    rig.delivery.fail = [ConnectionError("reset"), ConnectionError("reset")]
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert rig.delivery.videos == [(job.id, VIDEO)] and rig.delivery.failures == []
    assert [c for c in rig.metrics.calls if c[0] == "retry"] == [("retry", "delivery")] * 2


async def test_a_delivery_that_always_fails_tells_the_user_and_refunds_nothing(rig: Rig) -> None:
    await rig.start()
    rig.delivery.fail = [ConnectionError("reset")] * 3
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert rig.delivery.failures == [(job.id, "I couldn't send the avatar video, sorry.")]
    assert rig.budget.refunded == []  # D-ID rendered (and billed) it
    assert await rig.state(job) is None and rig.renders() == ["submitted", "failed"]


async def test_more_delivery_attempts_are_taken_when_configured(rig: Rig) -> None:
    jobs = rig.make(delivery_attempts=4)
    await rig.start(jobs)
    rig.delivery.fail = [ConnectionError("reset")] * 3
    job = await jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle(jobs)
    await jobs.aclose()
    assert rig.delivery.videos == [(job.id, VIDEO)]


async def test_a_chat_that_is_gone_drops_the_video_quietly(rig: Rig) -> None:
    await rig.start()
    rig.delivery.fail = [PermanentDeliveryError("blocked")]
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert (rig.delivery.videos, rig.delivery.failures, rig.budget.refunded) == ([], [], [])
    assert await rig.state(job) is None and rig.renders() == ["submitted", "failed"]


@pytest.mark.parametrize(
    ("step", "error", "refunded"),
    [
        ("submit", BadInputError("D-ID could not use that text.", detail="400"), True),
        ("wait", TalkFailedError("D-ID could not use that text.", kind="DriverError"), True),
        # Not D-ID's verdict on the talk (the wait gave up): D-ID may still make and bill it.
        ("wait", ServiceError("D-ID could not use that text.", detail="not done"), False),
        ("download", BadInputError("D-ID could not use that text.", detail="400"), False),
    ],
    ids=["submit refused", "talk failed", "wait gave up", "download"],
)
async def test_a_render_that_fails_tells_why_and_refunds_only_what_d_id_did_not_bill(
    rig: Rig, step: str, error: UserFacingError, refunded: bool
) -> None:
    await rig.start()
    rig.renderer.fail[step] = error
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert rig.delivery.failures == [(job.id, "D-ID could not use that text.")]
    assert rig.budget.refunded == ([job.id] if refunded else [])
    assert await rig.state(job) is None
    assert rig.jobs.pause_notice(OTHER) is None  # bad input pauses nothing


async def test_a_crash_is_one_line_and_the_job_ends(rig: Rig) -> None:
    await rig.start()
    rig.renderer.fail["submit"] = RuntimeError("bug")
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert rig.delivery.failures == [(job.id, "The avatar video couldn't be made this time.")]
    assert await rig.state(job) is None and rig.renders()[-1] == "failed"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OutOfCreditsError("No credits.", detail="402"), "the video service is out of credits"),
        (ConfigurationError("Bad key.", detail="401"), "the video service refused our key"),
        (UnavailableError("Down.", detail="503"), "the video service isn't answering"),
    ],
)
async def test_a_service_fault_pauses_renders_and_each_conversation_hears_it_once(
    rig: Rig, error: UserFacingError, reason: str
) -> None:
    await rig.start()
    rig.renderer.fail["submit"] = error
    await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    line = f"Avatar videos are paused for about 5 min: {reason}."
    assert rig.jobs.pause_notice(OTHER) == line
    assert rig.jobs.pause_notice(OTHER) == ""  # told already
    assert rig.jobs.pause_notice(KEY) == ""  # its failure told this one


@pytest.mark.parametrize(("seconds", "minutes"), [(120.0, 2), (10.0, 1), (150.0, 2), (210.0, 4)])
async def test_the_pause_names_its_length_in_minutes(
    rig: Rig, seconds: float, minutes: int
) -> None:
    jobs = rig.make(pause_seconds=seconds)
    await rig.start(jobs)
    rig.renderer.fail["submit"] = UnavailableError("Down.", detail="503")
    await jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle(jobs)
    notice = jobs.pause_notice(OTHER)
    await jobs.aclose()
    assert notice == (
        f"Avatar videos are paused for about {minutes} min: the video service isn't answering."
    )


async def test_a_pause_of_no_length_ends_at_once(rig: Rig) -> None:
    jobs = rig.make(pause_seconds=0)
    await rig.start(jobs)
    rig.renderer.fail["submit"] = UnavailableError("Down.", detail="503")
    await jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle(jobs)
    notice = jobs.pause_notice(OTHER)
    await jobs.aclose()
    assert notice is None


async def test_a_rendered_job_whose_file_is_lost_is_fetched_again(rig: Rig) -> None:
    store = rig.storage.jobs
    job = await store.create(KEY, "Hi.", "t")
    job = await store.update(job, JobState.SUBMITTED, talk_id="tlk_9")
    await store.update(job, JobState.RENDERED, video_path=str(rig.media / "gone.mp4"))
    assert await rig.start() == 1
    await rig.settle()
    assert (rig.renderer.submitted, rig.renderer.waited) == ([], ["tlk_9"])
    assert rig.delivery.videos == [(job.id, VIDEO)]


async def test_a_rendered_job_whose_file_is_there_is_only_delivered(rig: Rig) -> None:
    store = rig.storage.jobs
    rig.media.mkdir()
    saved = rig.media / "kept.mp4"
    saved.write_bytes(b"kept")
    job = await store.create(KEY, "Hi.", "t")
    job = await store.update(job, JobState.SUBMITTED, talk_id="tlk_9")
    await store.update(job, JobState.RENDERED, video_path=str(saved))
    await rig.start()
    await rig.settle()
    assert (rig.renderer.submitted, rig.renderer.waited) == ([], [])
    assert rig.delivery.videos == [(job.id, b"kept")]


async def test_a_stop_leaves_the_job_for_the_next_start(rig: Rig) -> None:
    rig.renderer.gate = asyncio.Event()  # D-ID takes its time
    await rig.start()
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await until(lambda: bool(rig.renderer.waited))
    await rig.jobs.aclose()
    assert rig.jobs.running == 0
    assert await rig.state(job) is JobState.SUBMITTED
    await rig.jobs.submit(KEY, Script("After the stop."), "t")  # recorded, not run
    assert rig.renderer.submitted == [("Hi.", None, None)]
    rig.renderer.gate.set()
    again = rig.jobs = rig.make()
    assert await rig.start(again) == 2
    await rig.settle(again)
    assert rig.renderer.waited == ["tlk_1", "tlk_1", "tlk_2"]  # polled again, not resubmitted
    # Both resume at once, each a reply to its own answer: which one lands first is not fixed.
    assert sorted(video for video, _ in rig.delivery.videos) == [job.id, job.id + 1]


async def test_renders_beyond_the_limit_wait_for_a_slot(rig: Rig) -> None:
    rig.renderer.gate = asyncio.Event()
    jobs = rig.make(max_renders=1)
    await rig.start(jobs)
    await jobs.submit(KEY, Script("one"), "t")
    await jobs.submit(OTHER, Script("two"), "t")
    await until(lambda: bool(rig.renderer.waited))
    for _ in range(100):
        await asyncio.sleep(0)  # give the second job every chance to start
    assert rig.renderer.submitted == [("one", None, None)] and jobs.running == 2
    rig.renderer.gate.set()
    await rig.settle(jobs)
    await jobs.aclose()
    assert [text for text, _, _ in rig.renderer.submitted] == ["one", "two"]


class RecordingFallback:
    """Fallback: notes the jobs it is given instead of a video; `fail` makes it raise."""

    def __init__(self, delivery: RecordingDelivery) -> None:
        self.given: list[tuple[int, str, int]] = []  # job, line, failure notices sent before
        self.delivery = delivery
        self.fail = False

    async def __call__(self, job: AvatarJob, message: str) -> bool:
        self.given.append((job.id, message, len(self.delivery.failures)))
        if self.fail:
            raise RuntimeError("the voice answer failed too")
        return True


@pytest.mark.parametrize(
    ("step", "error", "instead"),
    [
        ("submit", OutOfCreditsError("No credits.", detail="402"), True),
        ("wait", ConfigurationError("Bad key.", detail="401"), True),
        ("submit", UnavailableError("Down.", detail="503"), True),
        ("submit", BadInputError("Bad text.", detail="400"), False),
        ("download", UnavailableError("Down.", detail="503"), False),
    ],
    ids=["out of credits", "key refused", "down", "bad input", "billed already"],
)
async def test_a_render_d_id_cannot_make_now_falls_back_after_its_failure_line(
    rig: Rig, step: str, error: UserFacingError, instead: bool
) -> None:
    fallback = RecordingFallback(rig.delivery)
    jobs = rig.make(fallback=fallback)  # type: ignore[arg-type]
    await rig.start(jobs)
    rig.renderer.fail[step] = error
    job = await jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle(jobs)
    await jobs.aclose()
    assert rig.delivery.failures == [(job.id, error.message)]
    assert fallback.given == ([(job.id, error.message, 1)] if instead else [])


async def test_a_fallback_that_fails_ends_the_job_all_the_same(rig: Rig) -> None:
    fallback = RecordingFallback(rig.delivery)
    fallback.fail = True
    jobs = rig.make(fallback=fallback)  # type: ignore[arg-type]
    await rig.start(jobs)
    rig.renderer.fail["submit"] = OutOfCreditsError("No credits.", detail="402")
    job = await jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle(jobs)
    await jobs.aclose()
    assert [given for given, _, _ in fallback.given] == [job.id]
    assert await rig.state(job) is None


async def test_a_failed_job_keeps_the_start_of_d_id_s_detail(rig: Rig) -> None:
    await rig.start()
    detail = "D-ID GET /talks/tlk_1: 503 " + "x" * 600
    rig.renderer.fail["wait"] = UnavailableError("Down.", detail=detail)
    job = await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    (failed,) = rig.delivery.failed
    assert failed.job.id == job.id and failed.job.state is JobState.FAILED
    assert failed.job.error == detail[:500]


class CountingClaims:
    """The job store, counting `claim` and `renew` calls (the lease loop's rounds)."""

    def __init__(self, store: JobStore) -> None:
        self.store, self.claims, self.renewals = store, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def claim(self) -> list[AvatarJob]:
        self.claims += 1
        return await self.store.claim()

    async def renew(self) -> None:
        self.renewals += 1
        await self.store.renew()


async def test_jobs_recorded_meanwhile_are_claimed_by_the_lease_loop_and_run_once(
    rig: Rig,
) -> None:
    store = CountingClaims(rig.storage.jobs)
    jobs = AvatarJobs(
        store,
        rig.renderer,
        rig.media,
        delivery_backoff=0,
        lease_seconds=0.03,  # renewed and claimed every 10 ms
    )
    await rig.start(jobs)
    assert store.claims == 1  # at the start
    # Recorded by another replica (or before a crash), not spawned here.
    job = await rig.storage.jobs.create(KEY, "From elsewhere.", "t")
    await until(lambda: len(rig.delivery.videos) == 1)
    done = store.claims
    await until(lambda: store.claims >= done + 3)  # claimed again after it ended
    await jobs.aclose()
    assert store.renewals >= store.claims - 1
    assert rig.renderer.submitted == [("From elsewhere.", None, None)]
    assert rig.delivery.videos == [(job.id, VIDEO)]


class StaleClaims(CountingClaims):
    """The job store whose claim hands out the jobs as they were first read (a lapsed lease:
    another replica read them too)."""

    def __init__(self, store: JobStore, jobs: list[AvatarJob]) -> None:
        super().__init__(store)
        self.jobs = jobs

    async def claim(self) -> list[AvatarJob]:
        await super().claim()
        return self.jobs


async def test_a_job_another_replica_submitted_since_it_was_read_is_not_sent_again(
    rig: Rig,
) -> None:
    job = await rig.storage.jobs.create(KEY, "Hi.", "t")
    assert await rig.storage.jobs.start_submit(job) is not None  # the other replica asks D-ID
    jobs = AvatarJobs(
        StaleClaims(rig.storage.jobs, [job]), rig.renderer, rig.media, budget=rig.budget
    )
    await rig.start(jobs)
    await rig.settle(jobs)
    await jobs.aclose()
    assert rig.renderer.submitted == []  # one talk for one job
    assert (rig.delivery.videos, rig.delivery.failures, rig.budget.refunded) == ([], [], [])
    assert await rig.state(job) is JobState.SUBMITTED  # the other replica's to finish


async def test_a_job_found_cut_off_while_d_id_was_asked_fails_once_and_keeps_its_budget(
    rig: Rig,
) -> None:
    job = await rig.storage.jobs.create(KEY, "Hi.", "t")
    await rig.storage.jobs.start_submit(job)  # then the process died: no talk id was stored
    await rig.start()
    await rig.settle()
    assert (rig.renderer.submitted, rig.renderer.waited) == ([], [])
    assert rig.delivery.failures == [(job.id, "The avatar video couldn't be made this time.")]
    assert rig.budget.refunded == []  # D-ID may have the talk, and bill it
    assert await rig.state(job) is None


class TimingMetrics(RecordingMetrics):
    """Metrics that keep the render timings too."""

    def __init__(self) -> None:
        super().__init__()
        self.timings: list[tuple[str, float | None]] = []

    def render(self, state: str, seconds: float | None = None) -> None:
        self.timings.append((state, seconds))


async def test_a_delivered_render_is_timed_from_its_submit_and_a_resumed_one_not(
    rig: Rig,
) -> None:
    store, metrics = rig.storage.jobs, TimingMetrics()
    resumed = await store.create(KEY, "Before the restart.", "t")
    resumed = await store.update(resumed, JobState.SUBMITTED, talk_id="tlk_9")
    jobs = AvatarJobs(store, rig.renderer, rig.media, delivery_backoff=0, metrics=metrics)
    await rig.start(jobs)
    await rig.settle(jobs)
    await jobs.submit(KEY, Script("Now."), "t")
    await rig.settle(jobs)
    await jobs.aclose()
    assert metrics.timings[0] == ("delivered", None)  # submitted before this process started
    (state, submitted), (delivered, seconds) = metrics.timings[1:]
    assert (state, submitted, delivered) == ("submitted", None, "delivered")
    assert seconds is not None and 0 <= seconds < 60


async def test_renders_are_paused_only_after_a_service_fault(rig: Rig) -> None:
    await rig.start()
    assert not rig.jobs.paused
    rig.renderer.fail["submit"] = BadInputError("Bad text.", detail="400")
    await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert not rig.jobs.paused
    rig.renderer.fail["submit"] = UnavailableError("Down.", detail="503")
    await rig.jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle()
    assert rig.jobs.paused


class TimedDelivery(RecordingDelivery):
    """A delivery noting when each attempt came (time.monotonic())."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[float] = []

    async def deliver_video(self, ready: VideoReady) -> None:
        self.attempts.append(time.monotonic())
        await super().deliver_video(ready)


async def test_delivery_attempts_wait_longer_each_time(rig: Rig) -> None:
    delivery = TimedDelivery()
    delivery.fail = [ConnectionError("reset"), ConnectionError("reset")]
    jobs = AvatarJobs(rig.storage.jobs, rig.renderer, rig.media, delivery_backoff=0.05)
    await jobs.start({"memory": delivery})
    await jobs.submit(KEY, Script("Hi."), "t")
    await until(lambda: bool(delivery.videos))
    await jobs.aclose()
    first, second, third = delivery.attempts
    assert second - first >= 0.05 and third - second >= 0.1  # the backoff times the attempt


class BrokenBudget(RecordingBudget):
    async def refund(self, job: AvatarJob) -> bool:
        raise ConnectionError("the database went away")


class MuteDelivery(RecordingDelivery):
    """A delivery that cannot tell the user of a failure."""

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        self.failures.append((failed.job.id, "not told"))
        raise ConnectionError("the chat is unreachable")


async def test_a_failure_ends_its_job_even_when_the_refund_and_the_notice_fail(
    rig: Rig,
) -> None:
    delivery = MuteDelivery()
    jobs = AvatarJobs(
        rig.storage.jobs,
        rig.renderer,
        rig.media,
        delivery_backoff=0,
        budget=BrokenBudget(),
        metrics=rig.metrics,
    )
    await jobs.start({"memory": delivery})
    rig.renderer.fail["submit"] = BadInputError("Bad text.", detail="400")
    job = await jobs.submit(KEY, Script("Hi."), "t")
    await rig.settle(jobs)
    await jobs.aclose()
    assert delivery.failures == [(job.id, "not told")]
    assert await rig.state(job) is None and rig.renders() == ["failed"]
