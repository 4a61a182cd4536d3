"""LiveAnswer (core/avatar/live_answer.py): a turn's view, with its answer said live on the way.

Everything but the answer goes to the platform's view as it is; the speaker is asked for once
per answer, for the turn's conversation, turn and user, and only when the avatar is on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.avatar.live import LiveStreams
from core.avatar.live_answer import LiveAnswer
from core.avatar.live_speaker import LiveSpeaker
from core.turn_ports import NO_VIDEO
from core.types import AvatarJob, ConversationKey, JobState
from tests.fakes.memory import (
    MemoryAvatarStreams,
    MemoryCounters,
    MemoryLivePage,
    SpokenRecordingView,
)
from tests.unit.live_rig import ANSWER, KEY, LiveRig, Switch, go_live


class AskedSpeakers:
    """LiveSpeakers with no stream open: records who asked for a speaker."""

    def __init__(self) -> None:
        self.asked: list[tuple[ConversationKey, str, str]] = []
        self.questions: list[str] = []

    def speaker(
        self, key: ConversationKey, turn: str, user: str, question: str = ""
    ) -> LiveSpeaker | None:
        self.asked.append((key, turn, user))
        self.questions.append(question)
        return None


@pytest.fixture
async def rig() -> AsyncIterator[LiveRig]:
    made = LiveRig(MemoryAvatarStreams(), MemoryCounters())
    try:
        yield made
    finally:
        await made.stop()


@pytest.fixture
def live(rig: LiveRig) -> LiveStreams:
    return rig.build()


async def test_everything_but_the_answer_goes_to_the_view_as_it_is() -> None:
    view = SpokenRecordingView(target="t1")
    answer = LiveAnswer(view, AskedSpeakers(), Switch(), KEY, "t1", "ip-a")
    job = AvatarJob(7, KEY, ANSWER, "t1", JobState.QUEUED)
    await answer.transcript("what Whisper heard")
    await answer.rendering(job)
    await answer.notice("no video today")
    await answer.failure("it failed")
    assert view.shown == [
        ("transcript", "what Whisper heard"),
        ("rendering", "7"),
        ("notice", "no video today"),
        ("failure", "it failed"),
    ]


async def test_one_speaker_is_asked_for_per_answer_for_its_turn_and_user() -> None:
    view, speakers, switch = SpokenRecordingView(target="t1"), AskedSpeakers(), Switch()
    answer = LiveAnswer(view, speakers, switch, KEY, "t7", "ip-z")
    await answer.partial("Hi! ")
    await answer.partial("Hi! I'm Ava.")
    assert await answer.final("Hi! I'm Ava.") == "t1"  # no stream: a clip
    assert await answer.final("Hi! I'm Ava.") == "t1"  # shown again: still a clip
    assert speakers.asked == [(KEY, "t7", "ip-z")] and switch.asked == [KEY]
    assert view.steps("final") == ["Hi! I'm Ava."] * 2 and view.steps("spoken") == []


async def test_the_speaker_hears_the_question_a_voice_turns_is_its_transcript() -> None:
    typed, spoken = AskedSpeakers(), AskedSpeakers()
    answer = LiveAnswer(SpokenRecordingView(), typed, Switch(), KEY, "t1", "ip-a", "Wie spät?")
    await answer.partial("Drei. ")
    voice_turn = LiveAnswer(SpokenRecordingView(), spoken, Switch(), KEY, "t2", "ip-a")
    await voice_turn.transcript("Wie spät ist es?")
    await voice_turn.partial("Drei. ")
    assert typed.questions == ["Wie spät?"] and spoken.questions == ["Wie spät ist es?"]


async def test_with_the_avatar_off_no_speaker_is_asked_for() -> None:
    speakers = AskedSpeakers()
    answer = LiveAnswer(SpokenRecordingView(), speakers, Switch(on=False), KEY, "t1", "ip-a")
    await answer.partial(ANSWER)
    assert await answer.plain(ANSWER) == "answer-1"
    assert speakers.asked == []


async def test_a_plain_answer_said_live_comes_with_no_clip(live: LiveStreams) -> None:
    page = MemoryLivePage(KEY)
    await go_live(live, page)
    view = SpokenRecordingView(target="t1")
    answer = LiveAnswer(view, live, Switch(), KEY, "t1", "ip-a")
    assert await answer.plain(ANSWER) is NO_VIDEO
    assert view.shown == [("plain", ANSWER), ("spoken", "")]
    assert await answer.plain(ANSWER) is NO_VIDEO  # sent again after a failed attempt
    assert view.shown == [("plain", ANSWER), ("spoken", ""), ("plain", ANSWER)]


async def test_an_answer_too_long_to_say_live_gets_a_clip_and_the_stream_stays(
    rig: LiveRig,
) -> None:
    live, page = rig.build(max_seconds=1.0), MemoryLivePage(KEY)
    await go_live(live, page)
    view = SpokenRecordingView(target="t1")
    answer = LiveAnswer(view, live, Switch(), KEY, "t1", "ip-a")
    long = "This sentence goes on and on " * 6 + "until it ends."
    assert await answer.final(long) == "t1"
    assert view.steps("spoken") == [] and rig.service.spoken == [] and page.state == "live"
