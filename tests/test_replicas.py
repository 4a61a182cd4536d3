"""Two replicas on one PostgreSQL: a crashed replica's renders are taken over, delivered once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.storage import Storage, open_storage
from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from core.avatar.jobs import AvatarJobs
from core.types import AvatarFailed, ConversationKey, Script, VideoReady
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.processes import Children

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
    a = await open_storage(postgres_url)
    try:
        b = await open_storage(postgres_url)
        try:
            yield a, b
        finally:
            await b.close()
    finally:
        await a.close()


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
    return AvatarJobs(storage.jobs, renderer, media, max_renders=50, lease_seconds=60)


async def lapse_all(postgres_url: str) -> None:
    """Time passes: every job's lease lapsed a second ago."""
    import asyncpg

    clock = await asyncpg.connect(postgres_url)
    try:
        await clock.execute("UPDATE avatar_jobs SET lease_until = now() - interval '1 second'")
    finally:
        await clock.close()


async def test_crashed_replicas_renders_are_taken_over_and_delivered_once(
    replicas: tuple[Storage, Storage], tmp_path: Path, postgres_url: str
) -> None:
    store_a, store_b = replicas
    delivery = RecordingDelivery()
    async with FakeDID(render_seconds=0.02) as did, httpx.AsyncClient(timeout=5) as http:
        did.hold_renders = True
        a = replica(store_a, did, http, tmp_path / "a", delivery)
        await a.start({"test": delivery})
        jobs = [await a.submit(KEY, Script(f"answer {n}"), "") for n in range(20)]
        await did.wait_for(lambda: len(did.talks) == 20)
        b = replica(store_b, did, http, tmp_path / "b", delivery)
        await b.start({"test": delivery})
        assert b.running == 0  # a's leases keep its jobs from b
        # Replica a dies (SIGKILL): its workers stop and its leases are never released...
        crashed = [*a._tasks.values(), a._leases]
        for task in crashed:
            assert task is not None
            task.cancel()
        await asyncio.gather(*[t for t in crashed if t], return_exceptions=True)
        await lapse_all(postgres_url)  # ...and lapse (fast-forwarded here)
        assert await b._claim() == 20
        did.release_all()
        async with asyncio.timeout(10):
            while len(delivery.videos) < 20:
                delivery.changed.clear()
                await delivery.changed.wait()
        await b.aclose()
    assert sorted(delivery.videos) == [job.id for job in jobs]  # each once
    assert len(did.calls("/talks", "POST")) == 20  # b polled a's talks, none paid twice


@pytest.mark.timeout(120)  # two real processes and 200 answers: longer than the default 30 s
async def test_two_bot_processes_one_killed_halfway_every_video_once(
    postgres_url: str, tmp_path: Path, children: Children
) -> None:
    """200 renders; replica A is SIGKILLed with all of them in flight; B delivers each once."""
    import os
    import signal
    import sys

    from tests.fakes.groq import FakeGroq
    from tests.fakes.telegram import FakeTelegram

    chats = [40_000 + n for n in range(200)]
    # A has 100 renders at D-ID (held) and 100 queued in its database when it dies.
    async with FakeGroq() as groq, FakeDID(render_seconds=0.02, credits_remaining=10**6) as did:
        async with FakeTelegram() as tg:
            base = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GROQ_API_KEY": groq.api_key,
                "GROQ_BASE_URL": groq.base_url,
                "DID_API_KEY": did.api_key,
                "DID_API_BASE_URL": did.base_url,
                "DID_POLL_FIRST_SECONDS": "0.05",
                "DID_POLL_INTERVAL_SECONDS": "0.05",
                "DID_MAX_CONCURRENT_RENDERS": "100",
                "AVATAR_DAILY_LIMIT_PER_USER": "",
                "AVATAR_DAILY_LIMIT_TOTAL": "",
                "AVATAR_DAILY_SECONDS_PER_USER": "",
                "AVATAR_DAILY_SECONDS_TOTAL": "",
                "USER_MESSAGES_PER_MINUTE": "",
                "AVATAR_JOB_LEASE_SECONDS": "1",
                "TELEGRAM_BOT_TOKEN": tg.token,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "DATABASE_URL": postgres_url,
                "WEB_ENABLED": "false",
            }

            async def start(name: str, extra: dict[str, str]) -> asyncio.subprocess.Process:
                (tmp_path / name).mkdir()
                return await children.start(
                    sys.executable, "-m", "bot", "run", cwd=tmp_path / name,
                    env=base | {"DATABASE_PATH": str(tmp_path / name / "bot.db")} | extra,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip

            did.hold_renders = True
            a = await start("a", {})
            await tg.wait_for(lambda: tg.calls("getUpdates"), timeout=20)
            for chat in chats:
                tg.push_text(chat, "hello", user_id=chat)
            await did.wait_for(lambda: len(did.talks) == 100, timeout=25)
            # Every message answered in text (inbox replay is per process, not yet by lease).
            await tg.wait_for(lambda: len(tg.calls("sendMessage")) >= 200, timeout=25)
            # B runs Telegram in webhook mode (delivery only: A is the one polling) on one DB.
            port = _free_port()
            b = await start(
                "b",
                {
                    "WEB_ENABLED": "true",
                    "WEB_PORT": str(port),
                    "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                },
            )
            await tg.wait_for(lambda: tg.webhook is not None, timeout=20)
            a.kill()  # SIGKILL: 100 renders submitted, 100 recorded, none delivered
            await a.wait()
            did.hold_renders = False
            did.release_all()
            await tg.wait_for(lambda: len(tg.calls("sendVideo")) >= 200, timeout=40)
            b.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(b.wait(), 30) == 0
    videos = [call.params["chat_id"] for call in tg.calls("sendVideo")]
    assert sorted(int(chat) for chat in videos) == chats  # every video once
    assert len(did.calls("/talks", "POST")) == 200  # B polled A's 100 talks: none paid twice


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_running_replica_answers_what_a_crashed_one_left(
    tmp_path: Path, postgres_url: str, groq: FakeGroq
) -> None:
    import asyncpg

    from tests.harness import running_bot, settings_for

    # A replica recorded a web message, then died before answering it: its lease still holds.
    crashed = await open_storage(postgres_url, inbox_lease=3600)
    try:
        payload = {"conversation": "alice-0123456789", "turn": "t1", "text": "left behind"}
        await crashed.inbox.record("web", "alice-0123456789/t1", json.dumps(payload))
    finally:
        await crashed.close()
    settings = settings_for(
        tmp_path,
        groq,
        None,
        DATABASE_URL=postgres_url,
        WEB_ENABLED=True,
        WEB_PORT=0,
        INBOX_LEASE_SECONDS=0.3,  # the running replica looks every 0.15 s
    )
    async with running_bot(settings):
        await asyncio.sleep(0.5)  # started and looked several times: the lease still holds
        assert groq.chat_bodies == []
        clock = await asyncpg.connect(postgres_url)
        try:  # the crashed replica's lease lapses
            await clock.execute("UPDATE inbox SET lease_until = now() - interval '1 second'")
        finally:
            await clock.close()
        await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        await asyncio.sleep(0.5)  # several more looks: it is not answered twice
    assert [body["messages"][-1]["content"] for body in groq.chat_bodies] == ["left behind"]
