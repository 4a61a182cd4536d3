"""Avatar renders are durable jobs: a restart at any step delivers each video exactly once."""

from pathlib import Path

from core.types import ConversationKey, JobState
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


async def test_job_recorded_but_never_submitted_is_submitted_on_start(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did)
    did.delay_next("POST /talks", 30)  # the process dies before D-ID answers
    async with terminal(settings) as (chat, _, core):
        await chat.handle("Hello")
        await did.wait_for(lambda: len(did.calls("/talks", "POST")) == 1)
        (job,) = await core.jobs._store.unfinished()  # type: ignore[union-attr]
        assert job.state is JobState.QUEUED
    async with terminal(settings) as (_, screen, _):
        await screen.wait_for("avatar video ready")
    assert screen.text.count("avatar video ready") == 1


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
