"""Conversations and the turn runner with real avatar jobs (the rig of test_avatar_job_runs):
the video of an answer within the quotas, in the voice of its language, per user in a group,
and what the user is told when a video is refused or renders are paused."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.avatar.speech import SpeechWriter
from core.conversation import Conversations
from core.errors import OutOfCreditsError
from core.limits import Limits
from core.prompts import ConversationSettings
from core.quota import Quotas
from core.replies import PAUSED, Replies
from core.turns import TurnRunner
from core.types import Audio, AvatarJob, ConversationKey, Notice, Transcription, Turn
from core.usage import VOICE_ANSWERS
from core.voice_answers import INSTEAD, VoiceAnswers, VoiceLimits
from tests.fakes.memory import (
    MemoryCounters,
    MemoryHistory,
    MemoryInbox,
    MemoryPreferences,
    MemoryVoiceDelivery,
    RecordingView,
    ScriptedModel,
    ScriptedSpeaker,
    ScriptedTranscriber,
)
from tests.test_avatar_job_runs import KEY, OTHER, Rig, job_rig
from tests.unit.test_conversations import RecordingMetrics


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with job_rig(tmp_path) as opened:
        yield opened


class VoicePerLanguage:
    """Voices: one voice per language."""

    def pick(self, language: str | None) -> str:
        return f"voice-{language}"


def conversations_on(
    rig: Rig, quotas: Quotas, preferences: MemoryPreferences | None = None
) -> tuple[Conversations, RecordingMetrics]:
    metrics = RecordingMetrics()
    conversations = Conversations(
        settings=ConversationSettings(system_prompt="Be brief."),
        history=MemoryHistory(),
        preferences=preferences or MemoryPreferences(),
        model=ScriptedModel(),
        transcriber=None,
        jobs=rig.jobs,
        quotas=quotas,
        metrics=metrics,
        speech=SpeechWriter(voices=VoicePerLanguage()),
    )
    return conversations, metrics


async def test_an_answer_gets_its_video_within_the_quotas_and_a_refusal_is_shown(
    rig: Rig,
) -> None:
    await rig.start()
    noon = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    quotas = Quotas(MemoryCounters(), Limits(renders_per_user=1), lambda: noon)
    conversations, metrics = conversations_on(rig, quotas)
    runner = TurnRunner(conversations, MemoryInbox())
    first, second = RecordingView(), RecordingView()
    await runner.answer(Turn(KEY, "u1", text="Hi"), first)
    await runner.answer(Turn(KEY, "u1", text="Again"), second)
    await rig.settle()
    ((job_id, _),) = rig.delivery.videos
    assert first.steps("rendering") == [str(job_id)]
    assert rig.renderer.submitted == [("Hello there.", "voice-None", None)]
    refusal = (
        "No video this time: your 1 avatar videos for today are used up; they reset in 12 h 0 min."
    )
    assert (second.steps("notice"), second.steps("rendering")) == ([refusal], [])
    assert ("refusal", "renders") in metrics.calls
    assert (await quotas.today())["refusals"] == 1
    spoken = await conversations.render_avatar(OTHER, "Hallo.", "t", "u2", "de")
    assert isinstance(spoken, AvatarJob) and spoken.voice_id == "voice-de"


async def test_while_renders_are_paused_each_conversation_hears_why_once(rig: Rig) -> None:
    await rig.start()
    quotas = Quotas(MemoryCounters(), Limits())
    conversations, _ = conversations_on(rig, quotas)
    rig.renderer.fail["submit"] = OutOfCreditsError("No credits.", detail="402")
    await conversations.render_avatar(KEY, "Hello.", "t", "u1")
    await rig.settle()
    paused = "Avatar videos are paused for about 5 min: the video service is out of credits."
    assert await conversations.render_avatar(OTHER, "Hello.", "t", "u2") == Notice(paused)
    assert await conversations.render_avatar(OTHER, "Hello.", "t", "u2") is None
    await conversations.set_avatar(KEY, False)
    assert await conversations.render_avatar(KEY, "Hello.", "t", "u1") is None


async def test_each_user_of_a_group_has_their_own_videos_in_the_language_they_spoke(
    rig: Rig,
) -> None:
    await rig.start()
    quotas = Quotas(MemoryCounters(), Limits(renders_per_user=1))
    transcriber = ScriptedTranscriber({b"ogg": Transcription("Hola", "es")})
    conversations = Conversations(
        settings=ConversationSettings(system_prompt="Be brief."),
        history=MemoryHistory(),
        preferences=MemoryPreferences(),
        model=ScriptedModel(),
        transcriber=transcriber,
        jobs=rig.jobs,
        quotas=quotas,
        speech=SpeechWriter(voices=VoicePerLanguage()),
    )
    runner = TurnRunner(conversations, MemoryInbox())
    group = ConversationKey("memory", "group")
    views = [RecordingView(), RecordingView()]
    await runner.answer(Turn(group, "alice", text="Hi"), views[0])
    voice = Audio(b"ogg", "audio/ogg", "v.ogg")
    await runner.answer(Turn(group, "bob", audio=voice), views[1])
    assert [len(view.steps("rendering")) for view in views] == [1, 1]  # one video each
    await rig.settle()
    assert [voice_id for _, voice_id, _ in rig.renderer.submitted] == ["voice-None", "voice-es"]


async def test_a_pause_is_told_once_in_each_conversation_that_asks(rig: Rig) -> None:
    await rig.start()
    conversations, _ = conversations_on(rig, Quotas(MemoryCounters(), Limits()))
    rig.renderer.fail["submit"] = OutOfCreditsError("No credits.", detail="402")
    await conversations.render_avatar(KEY, "Hello.", "t", "u1")
    await rig.settle()
    paused = Notice(
        "Avatar videos are paused for about 5 min: the video service is out of credits."
    )
    third = ConversationKey("memory", "c3")
    told = [await conversations.render_avatar(key, "Hi.", "t", "u1") for key in (OTHER, third)]
    assert told == [paused, paused]
    # The conversation whose render failed heard why with its failure.
    assert await conversations.render_avatar(KEY, "Hi.", "t", "u1") is None
    assert await conversations.render_avatar(third, "Hi.", "t", "u1") is None
    assert len(rig.renderer.submitted) == 1


@pytest.mark.parametrize("choice", ["avatar-off", "reply-text"])
async def test_a_chat_that_switched_videos_off_or_chose_text_gets_none(
    rig: Rig, choice: str
) -> None:
    await rig.start()
    preferences = MemoryPreferences()
    conversations, _ = conversations_on(rig, Quotas(MemoryCounters(), Limits()), preferences)
    if choice == "avatar-off":
        await conversations.set_avatar(KEY, False)
    else:
        await preferences.set_reply_mode(KEY, "text")
    assert await conversations.render_avatar(KEY, "Hello.", "t", "u1") is None
    assert rig.jobs.running == 0 and rig.renderer.submitted == []
    assert isinstance(await conversations.render_avatar(OTHER, "Hello.", "t", "u1"), AvatarJob)


async def test_a_video_of_an_unknown_user_counts_on_the_chat(rig: Rig) -> None:
    await rig.start()
    counters = MemoryCounters()
    conversations, _ = conversations_on(rig, Quotas(counters, Limits()))
    job = await conversations.render_avatar(KEY, "Hello.", "t")
    assert isinstance(job, AvatarJob) and job.reserved_scope == "memory:c1"
    video = await conversations.render_video(OTHER, "Hello.", "t")
    assert isinstance(video, AvatarJob) and video.reserved_scope == "memory:c2"


async def test_the_admins_stats_count_the_videos_rendering_now(rig: Rig) -> None:
    await rig.start()
    rig.renderer.gate = asyncio.Event()
    conversations, _ = conversations_on(rig, Quotas(MemoryCounters(), Limits()))
    await conversations.render_avatar(KEY, "Hello.", "t", "u1")
    assert (await conversations.stats()).endswith("; 1 videos rendering now.")
    rig.renderer.gate.set()
    await rig.settle()
    assert (await conversations.stats()).endswith("; 0 videos rendering now.")


class VoiceRig:
    """Replies on the rig's real jobs, with voice answers on memory fakes."""

    def __init__(self, rig: Rig, limits: Limits, voice_limits: VoiceLimits | None = None) -> None:
        noon = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
        self.preferences = MemoryPreferences()
        self.conversations, _ = conversations_on(
            rig, Quotas(MemoryCounters(), limits, lambda: noon), self.preferences
        )
        self.speaker, self.delivery = ScriptedSpeaker(), MemoryVoiceDelivery()
        self.voice_counters = MemoryCounters()
        self.voice = VoiceAnswers(
            self.speaker,
            SpeechWriter(),
            self.voice_counters,
            rig.media,
            limits=voice_limits,
            clock=lambda: noon,
        )
        self.voice.start({"memory": self.delivery})
        self.replies = Replies(self.conversations, self.voice)

    async def follow(self, key: ConversationKey = KEY, language: str | None = None) -> object:
        return await self.replies.follow(key, "Hello.", "answer-1", "u1", language)

    async def voice_answers(self, scope: str = "memory:u1") -> int:
        return await self.voice_counters.get("2026-12-01", scope, VOICE_ANSWERS)

    def captions(self) -> list[str | None]:
        return [note.caption for note in self.delivery.notes]


async def test_a_video_that_can_be_made_is_all_that_follows(rig: Rig) -> None:
    await rig.start()
    voice = VoiceRig(rig, Limits())
    job = await voice.follow(language="ar")  # the user's video, in the language heard
    assert isinstance(job, AvatarJob)
    assert (job.voice_id, job.reserved_scope, job.target) == ("voice-ar", "memory:u1", "answer-1")
    alone = Replies(voice.conversations, None)
    assert isinstance(await alone.follow(OTHER, "Hello.", "answer-1", "u1"), AvatarJob)
    assert voice.delivery.notes == []


async def test_a_video_refused_by_its_budget_is_a_voice_note_that_says_why(rig: Rig) -> None:
    await rig.start()
    voice = VoiceRig(rig, Limits(renders_per_user=0), VoiceLimits(per_user=1))
    assert await voice.follow(language="ar") is None
    assert voice.speaker.read == [("Hello.", "ar")]
    assert voice.delivery.notes[0].target == "answer-1"
    assert await voice.voice_answers() == 1  # counted on the user
    voice.speaker.read.clear()
    refusal = (
        "No video this time: your 0 avatar videos for today are used up; they reset in 12 h 0 min."
    )
    assert voice.captions() == [f"🎬 {refusal}\n{INSTEAD}"]
    assert await voice.follow() == Notice(refusal)  # no voice answer left either: the reason
    assert len(voice.delivery.notes) == 1 and rig.renderer.submitted == []


async def test_while_renders_are_paused_voice_notes_come_instead(rig: Rig) -> None:
    await rig.start()
    voice = VoiceRig(rig, Limits())
    rig.renderer.fail["submit"] = OutOfCreditsError("No credits.", detail="402")
    await voice.conversations.render_avatar(KEY, "Hello.", "t", "u1")
    await rig.settle()
    paused = "Avatar videos are paused for about 5 min: the video service is out of credits."
    assert await voice.follow(OTHER) is None
    assert await voice.follow(OTHER) is None
    assert voice.captions() == [f"🎬 {paused}\n{INSTEAD}", PAUSED]
    await voice.conversations.set_avatar(OTHER, False)
    assert await voice.replies.follow(OTHER, "Hello.", "answer-2", "u1") is None
    mode_video = Replies(voice.conversations, voice.voice, lambda key: _video_mode())
    assert await mode_video.follow(OTHER, "Hello.", "answer-3", "u1") is None
    assert len(voice.delivery.notes) == 2  # the chat switched videos off: nothing instead


async def _video_mode() -> str:
    return "video"


async def _mode(mode: str) -> str:
    return mode


@pytest.mark.parametrize(
    ("mode", "video"), [("text", False), ("shout", True)], ids=["text", "unknown"]
)
async def test_a_chosen_text_mode_gets_no_video_and_an_unknown_one_the_default(
    rig: Rig, mode: str, video: bool
) -> None:
    await rig.start()
    conversations, _ = conversations_on(rig, Quotas(MemoryCounters(), Limits()))
    replies = Replies(conversations, None, lambda key: _mode(mode))
    follow = await replies.follow(KEY, "Hello.", "answer-1", "u1")
    assert isinstance(follow, AvatarJob) if video else follow is None


async def test_without_video_budgets_the_job_is_the_chats_and_replies_to_the_answer(
    rig: Rig,
) -> None:
    await rig.start()
    conversations = Conversations(
        settings=ConversationSettings(system_prompt="Be brief."),
        history=MemoryHistory(),
        preferences=MemoryPreferences(),
        model=ScriptedModel(),
        transcriber=None,
        jobs=rig.jobs,
    )
    job = await conversations.render_avatar(KEY, "Hello.", "answer-7", "u1")
    assert isinstance(job, AvatarJob)
    assert (job.key, job.target, job.text, job.reserved_scope) == (KEY, "answer-7", "Hello.", None)
