"""Durable avatar jobs: recorded in SQLite first, rendered by named tasks, resumed on start.

This holds the runner: one task per job, the leases and claims across replicas, the delivery
of the video and the failure policy; the render steps are in job_render.py, the pause after
D-ID faults in render_pause.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from core.avatar.job_render import JobRender, JobTaken, NotRendered
from core.avatar.ports import AvatarRenderer, JobStore, RenderBudget, VideoDelivery
from core.avatar.render_pause import RenderPause, stops_renders
from core.avatar.video import FAILED
from core.errors import UserFacingError
from core.i18n import Line
from core.ports import Metrics, NoMetrics
from core.types import AvatarFailed, AvatarJob, ConversationKey, JobState, Script, VideoReady

if TYPE_CHECKING:
    from core.avatar.faces import Faces
    from core.limits import Reservation

log = logging.getLogger(__name__)

# Given a render D-ID could not make and the line the user was told; True when it sent something.
Fallback = Callable[[AvatarJob, str], Awaitable[bool]]
# A replica that stops renewing (it crashed) loses its jobs to another after this long.
LEASE_SECONDS = 60.0


class PermanentDeliveryError(Exception):
    """Delivery can never succeed (the user blocked the bot, the chat is gone): stop quietly."""


class AvatarJobs:
    """Owns the avatar render workers: one named task per job, cancelled at shutdown."""

    def __init__(
        self,
        store: JobStore,
        renderer: AvatarRenderer,
        media_dir: Path,
        *,
        max_renders: int = 8,
        delivery_attempts: int = 3,
        delivery_backoff: float = 2.0,
        pause_seconds: float = 300.0,
        metrics: Metrics | None = None,
        lease_seconds: float = LEASE_SECONDS,
        budget: RenderBudget | None = None,
        faces: Faces | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        self._store, self._faces = store, faces
        self._metrics = metrics or NoMetrics()
        self._rendering = JobRender(store, renderer, media_dir, self._metrics, faces)
        self._deliveries: Mapping[str, VideoDelivery] = {}
        self._started = False
        self._slots = asyncio.Semaphore(max_renders)
        self._delivery_attempts, self._delivery_backoff = delivery_attempts, delivery_backoff
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._closed = False
        self._pause = RenderPause(pause_seconds)
        # The store holds this process's jobs for `lease_seconds`; renewed every third of it.
        self._lease = lease_seconds
        self._leases: asyncio.Task[None] | None = None
        self._ended: set[int] = set()  # jobs this process delivered or failed
        self._budget = budget
        # Told of renders D-ID cannot make now (out of credits, key refused, down): a voice answer.
        self._fallback = fallback

    async def start(self, deliveries: Mapping[str, VideoDelivery]) -> int:
        """Deliver through `deliveries` (by platform); resume the jobs this process can claim.

        Until then jobs are recorded but not run: every platform's delivery is known at once,
        so no job can start before its platform's delivery exists.
        """
        if self._started:
            raise RuntimeError("avatar jobs started twice")
        self._deliveries, self._started = dict(deliveries), True
        resumed = await self._claim()
        self._leases = asyncio.create_task(self._keep_leases(), name="avatar-job-leases")
        return resumed

    async def submit(
        self,
        key: ConversationKey,
        script: Script,
        target: str,
        reservation: Reservation | None = None,
    ) -> AvatarJob:
        """Record a render job of `script` with its reservation, then start it.

        `target` tells the adapter where to reply. The job keeps the chat's face as it is now
        (`/face`), so a later `/face` or `/face reset` does not change a video already asked.
        """
        source_url = await self._faces.source_url(key) if self._faces is not None else None
        job = await self._store.create(
            key,
            script.text,
            target,
            reservation,
            voice_id=script.voice_id,
            truncated=script.truncated,
            source_url=source_url,
            script_kind=script.kind,
        )
        self._spawn(job)
        return job

    async def aclose(self) -> None:
        """Cancel every worker; their jobs stay in the database and resume on the next start.

        The leases are released, so another replica (or the next start) goes on at once.
        """
        self._closed = True
        tasks = list(self._tasks.values())
        if self._leases is not None:
            tasks.append(self._leases)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self._store.release()
        except Exception as exc:
            log.warning("could not release avatar job leases: %r", exc)

    async def _claim(self) -> int:
        jobs = await self._store.claim()
        for job in jobs:
            self._spawn(job)
        return len(jobs)

    async def _keep_leases(self) -> None:
        """Renew this process's leases well before they lapse; take over jobs whose lapsed."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._store.renew()
                await self._claim()
            except Exception:
                log.exception("renewing avatar job leases failed; retrying")

    @property
    def paused(self) -> bool:
        """Whether renders are paused now (nothing is submitted meanwhile)."""
        return self._pause.paused

    def pause_notice(self, key: ConversationKey) -> str | None:
        """While renders are paused: the reason, told once per conversation, else "" (silent).

        None means renders are not paused.
        """
        return self._pause.notice(key)

    @property
    def running(self) -> int:
        """How many jobs have a live worker."""
        return len(self._tasks)

    @property
    def deliveries(self) -> Mapping[str, VideoDelivery]:
        """The deliveries the jobs were started with, by platform."""
        return self._deliveries

    def _spawn(self, job: AvatarJob) -> None:
        if not self._started or job.key.platform not in self._deliveries:
            return  # recorded: `start` (or a later claim) runs it
        if job.id in self._tasks or job.id in self._ended or self._closed:
            # Running, or ended since a claim read it (a stale snapshot must not run it twice);
            # after shutdown the job waits in the database for the next start.
            return
        task = asyncio.create_task(self._run(job), name=f"avatar-job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda done: self._end(job.id, done))

    def _end(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)
        if not task.cancelled():
            self._ended.add(job_id)

    async def _run(self, job: AvatarJob) -> None:
        try:
            async with self._slots:
                job = await self._rendering.render(job)
            await self._deliver(job)
        except JobTaken:
            log.info("avatar job %s was submitted by another process; left to it", job.id)
        except NotRendered as exc:
            await self._fail(job, exc.cause, refund=exc.refund, instead=True)
        except UserFacingError as exc:
            await self._fail(job, exc, refund=False, instead=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("avatar job %s crashed", job.id)
            failed = await self._store.update(job, JobState.FAILED, error="internal error")
            self._metrics.render("failed")
            await self._notify_failure(failed, FAILED)
        finally:
            self._rendering.forget(job.id)

    async def _fail(
        self, job: AvatarJob, exc: UserFacingError, *, refund: bool, instead: bool
    ) -> None:
        """End the job and tell the user; with `refund`, D-ID billed nothing: give it back.

        With `instead`, D-ID made no video: a fault that stops renders brings the fallback.

        The refund comes first and counts once: a crash before the job is marked failed
        resumes it, D-ID reports the same failure, and the second refund gives nothing.
        """
        log.warning("avatar job %s failed: %s", job.id, exc.detail)
        self._pause.pause(exc)
        self._pause.told(job.key)  # this failure notice tells the conversation
        if refund and self._budget is not None:
            try:
                if await self._budget.refund(job):
                    log.info("avatar job %s: its video budget was given back", job.id)
            except Exception:
                log.exception("could not give avatar job %s its video budget back", job.id)
        failed = await self._store.update(job, JobState.FAILED, error=exc.detail[:500])
        self._metrics.render("failed")
        await self._notify_failure(failed, exc.message)
        if instead and stops_renders(exc):
            await self._instead(failed, exc.message)

    async def _instead(self, job: AvatarJob, message: str) -> None:
        """After the failure line, the fallback (a voice answer) of a render D-ID cannot make."""
        if self._fallback is None:
            return
        try:
            await self._fallback(job, message)
        except Exception:
            log.exception("the fallback of avatar job %s failed", job.id)

    async def _deliver(self, job: AvatarJob) -> None:
        delivery = self._deliveries[job.key.platform]
        ready = VideoReady(job, Path(job.video_path or ""))
        for attempt in range(1, self._delivery_attempts + 1):
            try:
                await delivery.deliver_video(ready)
                break
            except PermanentDeliveryError as exc:
                log.info("avatar job %s dropped: %s", job.id, exc)
                await self._store.update(job, JobState.FAILED, error=f"undeliverable: {exc}")
                self._metrics.render("failed")
                return
            except Exception as exc:
                if attempt == self._delivery_attempts:
                    raise UserFacingError(
                        Line("I couldn't send the avatar video, sorry."),
                        detail=f"delivery: {exc!r}",
                    ) from exc
                log.warning("avatar job %s delivery failed (%r), retrying", job.id, exc)
                self._metrics.retry("delivery")
                await asyncio.sleep(self._delivery_backoff * attempt)
        await self._store.update(job, JobState.DELIVERED)
        # A job submitted before a restart has no submit time here and is not timed.
        submitted = self._rendering.submitted_at(job.id)
        seconds = None if submitted is None else time.monotonic() - submitted
        self._metrics.render("delivered", seconds)
        log.info("avatar job %s delivered", job.id)

    async def _notify_failure(self, job: AvatarJob, message: str) -> None:
        try:
            await self._deliveries[job.key.platform].deliver_failure(AvatarFailed(job, message))
        except Exception as exc:
            log.warning("could not tell %s that avatar job %s failed: %r", job.key, job.id, exc)
