"""The live avatar's core (core/avatar/live.py, live_speaker.py, live_answer.py) on fakes.

What tests/test_web_live.py proves through Chromium and the fake D-ID streams server, driven
here on in-memory fakes of the `LivePage` and `AvatarStreams` ports: no server, no socket.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import pytest

from core.avatar.live import ALL_IN_USE, MOVED, NO_CONNECTION, LiveStreams
from core.avatar.live_answer import LiveAnswer
from core.avatar.script import estimate_seconds, sentences
from core.avatar.streams import StreamError
from core.limits import Limits
from core.turn_ports import NO_VIDEO
from core.types import ConversationKey
from tests.fakes.memory import (
    MemoryAvatarStreams,
    MemoryCounters,
    MemoryLivePage,
    SpokenRecordingView,
)
from tests.unit.live_rig import (
    ANSWER,
    CANDIDATE,
    KEY,
    SDP,
    LiveRig,
    Switch,
    go_live,
    ms,
    streamed_ms,
    until,
)


@pytest.fixture
def service() -> MemoryAvatarStreams:
    return MemoryAvatarStreams()


@pytest.fixture
def counters() -> MemoryCounters:
    return MemoryCounters()


@pytest.fixture
async def make(
    service: MemoryAvatarStreams, counters: MemoryCounters
) -> AsyncIterator[Callable[..., LiveStreams]]:
    """Builds the LiveStreams of a test; each is stopped (its tasks cancelled) at the end."""
    rig = LiveRig(service, counters)
    try:
        yield rig.build
    finally:
        await rig.stop()


def answer_of(live: LiveStreams, view: SpokenRecordingView, turn: str = "t1") -> LiveAnswer:
    return LiveAnswer(view, live, Switch(), KEY, turn, "ip-a")


async def test_a_page_gets_the_offer_and_its_answer_and_candidates_reach_the_service(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live, page = make(), MemoryLivePage(KEY)
    number = await go_live(live, page)
    (stream,) = service.created
    assert page.offers == [(number, stream.offer)]
    assert [state for _, state, _ in page.states] == ["opening", "live"]
    await until(lambda: len(service.signals) == 3)
    assert service.signals == [
        ("answer", stream.id, SDP),
        ("ice", stream.id, CANDIDATE),
        ("ice", stream.id, {"candidate": ""}),  # done: the end of the candidates
    ]
    assert live.open_streams == 1


async def test_the_first_sentence_is_said_while_the_answer_streams(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams, counters: MemoryCounters
) -> None:
    live, page = make(), MemoryLivePage(KEY)
    await go_live(live, page)
    view = SpokenRecordingView(target="t1")
    answer = answer_of(live, view)
    await answer.partial("Hi! I'm Ava, ")
    await until(lambda: len(service.spoken) == 1)
    assert service.spoken[0][1:] == ("Hi!", "voice-en")
    assert view.steps("final") == []  # said before the answer is complete
    await answer.partial(ANSWER)
    assert await answer.final(ANSWER) is NO_VIDEO  # said live: no clip
    assert [text for _, text, _ in service.spoken] == sentences(ANSWER)
    assert view.steps("partial") == ["Hi! I'm Ava, ", ANSWER] and view.steps("spoken") == [""]
    assert streamed_ms(counters) == sum(ms(s) for s in sentences(ANSWER))
    assert await answer.final(ANSWER) is NO_VIDEO  # shown again: not said twice
    assert len(service.spoken) == 3


async def test_without_a_stream_or_with_the_avatar_off_the_clip_path_takes_over(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live = make()
    view = SpokenRecordingView(target="t1")
    assert await answer_of(live, view).final(ANSWER) == "t1"  # no page: a clip
    page = MemoryLivePage(KEY)
    await go_live(live, page)
    off = LiveAnswer(view, live, Switch(on=False), KEY, "t2", "ip-a")
    await off.partial(ANSWER)
    assert await off.final(ANSWER) == "t1"
    assert not service.spoken and view.steps("spoken") == []


async def test_an_idle_stream_closes_and_the_next_answer_finds_none(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live, page = make(idle_seconds=0.0), MemoryLivePage(KEY)
    await go_live(live, page)
    await until(lambda: page.state == "idle")
    await until(lambda: not service.open)  # not billed while nobody talks
    assert live.open_streams == 0 and live.speaker(KEY, "t1", "ip-a") is None
    await go_live(live, page)  # the page reopens it with its next message
    assert len(service.created) == 2


async def test_a_stream_that_never_connects_fails_in_one_line(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live, page = make(connect_seconds=0.0), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: page.state == "failed")
    assert page.states[-1][2] == NO_CONNECTION
    await until(lambda: not service.open)


async def test_a_page_whose_connection_fails_gets_clips(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live, page = make(), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: bool(page.offers))
    await live.connection(page, page.offers[0][0], connected=False)
    assert page.states[-1][1:] == ("failed", NO_CONNECTION)
    await until(lambda: not service.open)


@pytest.mark.parametrize(("status", "says"), [(402, "out of D-ID credits"), (429, "busy")])
async def test_a_refused_stream_fails_with_the_services_line(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams, status: int, says: str
) -> None:
    service.refuse["create"] = [StreamError(status, "", "refused")]
    live, page = make(), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: page.state == "failed")
    line = page.states[-1][2]
    assert line is not None and says in line and line.endswith("come as clips instead.")
    assert live.open_streams == 0


async def test_past_max_streams_a_page_is_refused(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live = make(max_streams=1)
    first, second = MemoryLivePage(KEY), MemoryLivePage(ConversationKey("web", "other"))
    await go_live(live, first)
    await live.open(second)
    assert second.states == [(2, "failed", ALL_IN_USE)]
    assert len(service.created) == 1 and first.state == "live"


async def test_a_second_tab_of_the_conversation_takes_the_stream_over(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live, old, new = make(), MemoryLivePage(KEY), MemoryLivePage(KEY)
    await go_live(live, old)
    number = await go_live(live, new)
    assert old.states[-1][1:] == ("closed", MOVED)
    await until(lambda: service.open == [service.created[1].id])
    speaker = live.speaker(KEY, "t1", "ip-a")
    assert speaker is not None
    speaker.feed("Hello there.")
    assert await speaker.finish() == "spoken"
    assert service.spoken[0][0] == service.created[1].id and number == 2


async def test_frames_about_a_stream_closed_since_are_ignored(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live, page = make(), MemoryLivePage(KEY)
    number = await go_live(live, page)
    await until(lambda: len(service.signals) == 3)
    await live.close(page, number)
    assert page.state == "closed"
    live.answer(page, number, SDP)
    await live.connection(page, number, connected=True)
    await until(lambda: not service.open)
    assert page.state == "closed" and len(service.signals) == 3


async def test_the_budget_stops_the_avatar_with_its_line(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    said = sentences(ANSWER)
    allowed = math.ceil(sum(estimate_seconds(s) for s in said[:2]))  # the third does not fit
    live, page = make(Limits(seconds_per_user=allowed)), MemoryLivePage(KEY)
    await go_live(live, page)
    view = SpokenRecordingView(target="t1")
    assert await answer_of(live, view).final(ANSWER) is NO_VIDEO
    assert [text for _, text, _ in service.spoken] == said[:2]
    (notice,) = view.steps("notice")
    assert notice.startswith("The avatar stops here") and view.steps("spoken") == [""]


async def test_a_stream_failing_mid_answer_hands_the_answer_to_a_clip(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams, counters: MemoryCounters
) -> None:
    live, page = make(), MemoryLivePage(KEY)
    await go_live(live, page)
    view = SpokenRecordingView(target="t1")
    answer = answer_of(live, view)
    await answer.partial("Hi! I'm Ava, ")
    await until(lambda: len(service.spoken) == 1)
    service.refuse["speak"] = [StreamError(500, "", "down")]
    await answer.partial(ANSWER)
    assert await answer.final(ANSWER) == "t1"  # the whole answer as a clip
    await until(lambda: page.state == "failed")
    assert page.states[-1][2] is not None and "couldn't start" in page.states[-1][2]
    await until(lambda: not service.open)
    assert streamed_ms(counters) == ms("Hi!")  # the refused sentence was given back
    assert view.steps("spoken") == []


async def test_stop_closes_every_stream(
    make: Callable[..., LiveStreams], service: MemoryAvatarStreams
) -> None:
    live = make()
    pages = [MemoryLivePage(ConversationKey("web", f"c{n}")) for n in range(3)]
    for page in pages:
        await go_live(live, page)
    await live.stop()
    assert not service.open and live.open_streams == 0
    await live.open(MemoryLivePage(KEY))  # stopping: no new stream
    assert len(service.created) == 3
