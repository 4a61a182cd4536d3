"""Two replicas on one PostgreSQL: a crashed replica's renders are taken over, delivered once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.wiring import Storage, open_storage
from core.did import DIDClient, PollSchedule
from core.jobs import AvatarJobs
from core.types import AvatarFailed, ConversationKey, VideoReady
from tests.fakes.did import FakeDID

KEY = ConversationKey("test", "1")


class RecordingDelivery:
    """Counts deliveries; an event wakes the test on each."""

    def __init__(self) -> None:
        self.videos: list[int] = []
        self.changed = asyncio.Event()

    async def deliver_video(self, ready: VideoReady) -> None:
        self.videos.append(ready.job.id)
        self.changed.set()

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        raise AssertionError(f"job {failed.job.id} failed: {failed.message}")


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[tuple[Storage, Storage]]:
    a, b = await open_storage(postgres_url), await open_storage(postgres_url)
    yield a, b
    await a.close()
    await b.close()


def replica(storage: Storage, did: FakeDID, http: httpx.AsyncClient, media: Path,
            delivery: RecordingDelivery) -> AvatarJobs:  # fmt: skip
    renderer = DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="en-US-JennyNeural",
        schedule=PollSchedule(first=0.01, interval=0.01, timeout=10),
    )
    return AvatarJobs(
        storage.jobs, renderer, media, {"test": delivery}, max_renders=50, lease_seconds=60
    )


async def test_crashed_replicas_renders_are_taken_over_and_delivered_once(
    replicas: tuple[Storage, Storage], tmp_path: Path
) -> None:
    store_a, store_b = replicas
    delivery = RecordingDelivery()
    async with FakeDID(render_seconds=0.02) as did, httpx.AsyncClient(timeout=5) as http:
        did.hold_renders = True
        a = replica(store_a, did, http, tmp_path / "a", delivery)
        await a.start()
        jobs = [await a.submit(KEY, f"answer {n}", "") for n in range(20)]
        await did.wait_for(lambda: len(did.talks) == 20)
        b = replica(store_b, did, http, tmp_path / "b", delivery)
        await b.start()
        assert b.running == 0  # a's leases keep its jobs from b
        # Replica a dies (SIGKILL): its workers stop and its leases are never released...
        crashed = [*a._tasks.values(), a._leases]
        for task in crashed:
            assert task is not None
            task.cancel()
        await asyncio.gather(*[t for t in crashed if t], return_exceptions=True)
        await store_a.jobs.renew(a.owner, 0)  # ...and lapse (fast-forwarded here)
        assert await b._claim() == 20
        did.release_all()
        async with asyncio.timeout(10):
            while len(delivery.videos) < 20:
                delivery.changed.clear()
                await delivery.changed.wait()
        await b.aclose()
    assert sorted(delivery.videos) == [job.id for job in jobs]  # each once
    assert len(did.calls("/talks", "POST")) == 20  # b polled a's talks, none paid twice
