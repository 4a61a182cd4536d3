"""One avatar job through D-ID: submitted, waited for, downloaded and saved as an MP4.

Each step is stored before the next, so a job resumed after a restart goes on where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.avatar.did_errors import FAILED
from core.avatar.faces import face_refusal
from core.avatar.ports import AvatarRenderer, JobStore
from core.errors import TalkFailedError, UnconfirmedError, UserFacingError
from core.ports import Metrics
from core.storage.files import write_atomically
from core.types import AvatarJob, JobState

if TYPE_CHECKING:
    from core.avatar.faces import Faces

# Every step of a job logs under one name, the runner's: log filters select a job's lines by it.
log = logging.getLogger("core.avatar.jobs")


class NotRendered(Exception):
    """D-ID made no video of the job.

    `refund`: it bills nothing for it (it refused the talk or failed it); else it may bill it
    all the same (it may have the talk, which we stopped waiting for or never learned the id of).
    """

    def __init__(self, cause: UserFacingError, *, refund: bool = True) -> None:
        super().__init__(cause.detail)
        self.cause, self.refund = cause, refund


class JobTaken(Exception):
    """Another process submitted the job since this one read it (its lease had lapsed)."""


class JobRender:
    """Renders jobs: D-ID's talk, the download, the file; a lost face is uploaded again once."""

    def __init__(
        self,
        store: JobStore,
        renderer: AvatarRenderer,
        media_dir: Path,
        metrics: Metrics,
        faces: Faces | None,
    ) -> None:
        self._store, self._renderer, self._media_dir = store, renderer, media_dir
        self._metrics, self._faces = metrics, faces
        self._reuploaded: set[int] = set()  # jobs whose face was uploaded again after a loss
        self._submitted_at: dict[int, float] = {}  # job id -> monotonic time of its submit

    def submitted_at(self, job_id: int) -> float | None:
        """When this process submitted the job (monotonic); None when it was before a restart."""
        return self._submitted_at.get(job_id)

    def forget(self, job_id: int) -> None:
        """Drop what is kept of a job that ended (or stopped)."""
        self._submitted_at.pop(job_id, None)

    async def render(self, job: AvatarJob) -> AvatarJob:
        """Take the job from its stored step to a saved video; `NotRendered`: D-ID made none."""
        video = Path(job.video_path or "")
        if job.state is JobState.RENDERED and not await asyncio.to_thread(video.is_file):
            log.warning("avatar job %s lost its video file; fetching it again", job.id)
            job = await self._store.update(job, JobState.SUBMITTED)
        if job.state is JobState.QUEUED:
            job = await self._submit(job)
        if job.state is JobState.SUBMITTED:
            if job.talk_id is None:  # cut off while D-ID was asked: it may have the talk
                detail = "stopped while D-ID was asked for the talk; not asked again"
                raise NotRendered(UnconfirmedError(FAILED, detail=detail), refund=False)
            try:
                url = await self._renderer.wait(job.talk_id)
            except TalkFailedError as exc:
                if (face := await self._new_face(job, exc)) is None:
                    raise NotRendered(face_refusal(job.source_url, exc)) from exc
                log.info("avatar job %s: D-ID lost its face; uploaded again, resubmitted", job.id)
                job = await self._store.update(job, JobState.QUEUED, source_url=face)
                return await self.render(job)
            except UserFacingError as exc:
                # Not D-ID's verdict (the wait timed out, the key was refused meanwhile): the
                # talk may still be made, and billed.
                raise NotRendered(exc, refund=False) from exc
            # From here D-ID has rendered (and billed) the video: a failure refunds nothing.
            path = await self._save(job, await self._renderer.download(url))
            job = await self._store.update(job, JobState.RENDERED, video_path=str(path))
        return job

    async def _submit(self, job: AvatarJob) -> AvatarJob:
        """Mark the job as being sent, then create its talk.

        A job another process marked first is left to it (`JobTaken`).
        """
        marked = await self._store.start_submit(job)
        if marked is None:
            raise JobTaken(job.id)
        try:
            talk_id = await self._renderer.submit(job.text, job.voice_id, job.source_url)
        except UnconfirmedError as exc:
            raise NotRendered(exc, refund=False) from exc
        except UserFacingError as exc:
            raise NotRendered(exc) from exc
        job = await self._store.update(marked, JobState.SUBMITTED, talk_id=talk_id)
        self._submitted_at[job.id] = time.monotonic()
        self._metrics.render("submitted")
        log.info("avatar job %s submitted as %s", job.id, talk_id)
        return job

    async def _new_face(self, job: AvatarJob, exc: TalkFailedError) -> str | None:
        """Upload the chat's face again after D-ID lost it, once per job: its URL, else None."""
        if self._faces is None or job.id in self._reuploaded:
            return None
        self._reuploaded.add(job.id)
        return await self._faces.after_failure(job.key, job.source_url, exc.kind)

    async def _save(self, job: AvatarJob, video: bytes) -> Path:
        path = self._media_dir / f"avatar-{job.id}.mp4"
        await asyncio.to_thread(write_atomically, path, video)
        return path
