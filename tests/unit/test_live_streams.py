"""LiveStreams (core/avatar/live.py): which frames reach the service, deadlines, and its tasks.

On the in-memory `AvatarStreams` and `LivePage` fakes: a page's frames about another stream
are dropped, a turn holds the idle close off while the avatar talks, a slow close at D-ID never
holds the page's read loop, and stop leaves nothing running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.web.identity import tag as web_tag
from core.avatar.live import NO_CONNECTION
from core.avatar.live_session import tag
from core.avatar.streams import StreamError
from core.types import ConversationKey
from tests.fakes.memory import MemoryAvatarStreams, MemoryCounters, MemoryLivePage
from tests.unit.live_rig import (
    CANDIDATE,
    KEY,
    SDP,
    LiveRig,
    SlowClosingStreams,
    SlowOpeningStreams,
    SocketLivePage,
    go_live,
    ms,
    streamed_ms,
    turns,
    until,
)

OTHER = ConversationKey("web", "conversation-2")
BUSY = "The live avatar is busy right now — videos come as clips instead."


@pytest.fixture
def service() -> MemoryAvatarStreams:
    return MemoryAvatarStreams()


@pytest.fixture
async def rig(service: MemoryAvatarStreams) -> AsyncIterator[LiveRig]:
    """The LiveStreams of a test; each is stopped (its tasks cancelled) at the end.

    Whatever reached the loop's exception handler (a failing done callback, a task's exception
    never retrieved) fails the test.
    """
    made, loop = LiveRig(service, MemoryCounters()), asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        yield made
        await made.stop()
        await turns()
        assert errors == []
    finally:
        await made.stop()
        loop.set_exception_handler(handler)


def live_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("live-") and not t.done()]


def live_task_names() -> set[str]:
    return {task.get_name() for task in live_tasks()}


async def test_the_mode_is_the_one_set(rig: LiveRig) -> None:
    assert rig.build(mode="stream").mode == "stream"
    assert rig.build(mode="auto").mode == "auto"


async def test_a_page_asking_again_keeps_its_one_stream(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    await go_live(live, page)
    await live.open(page)
    await turns()
    assert len(service.created) == 1 and page.states == [(1, "opening", None), (1, "live", None)]


async def test_each_conversation_keeps_its_own_stream(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, first, second = rig.build(), MemoryLivePage(KEY), MemoryLivePage(OTHER)
    assert (await go_live(live, first), await go_live(live, second)) == (1, 2)
    assert first.state == second.state == "live" and live.open_streams == 2
    assert service.open == [service.created[0].id, service.created[1].id]


async def test_the_offer_comes_with_the_services_ice_servers(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), SocketLivePage(KEY)
    await go_live(live, page)
    assert page.ice_servers == [service.created[0].ice_servers]


async def test_a_connection_heard_before_the_offer_is_ignored(rig: LiveRig) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    await live.open(page)
    await live.connection(page, 1, connected=True)  # the service has not answered yet
    assert page.states == [(1, "opening", None)]
    await until(lambda: bool(page.offers))
    await live.connection(page, 1, connected=True)
    assert page.state == "live"


async def test_frames_naming_another_stream_or_page_are_ignored(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    number = await go_live(live, page)
    await until(lambda: len(service.signals) == 3)
    stranger = MemoryLivePage(KEY)  # a page that never asked for a stream
    for where, stream in ((page, number + 1), (page, number - 1), (stranger, number)):
        live.answer(where, stream, SDP)
        live.ice(where, stream, (CANDIDATE,), done=True)
        await live.connection(where, stream, connected=False)
        await live.close(where, stream)
    await turns()
    assert page.state == "live" and stranger.states == [] and len(service.signals) == 3
    assert service.open == [service.created[0].id]


async def test_candidates_before_the_last_one_end_with_no_empty_candidate(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: bool(page.offers))
    second = {**CANDIDATE, "candidate": "candidate:2 1 udp 1 127.0.0.1 5001 typ host"}
    live.ice(page, 1, (CANDIDATE, second), done=False)
    await until(lambda: len(service.signals) == 2)
    await turns()
    assert [value for _, _, value in service.signals] == [CANDIDATE, second]


@pytest.mark.parametrize("call", ["answer", "ice"], ids=["answer", "ice"])
async def test_a_refused_signal_fails_the_stream_with_its_line(
    rig: LiveRig, service: MemoryAvatarStreams, call: str
) -> None:
    service.refuse[call] = [StreamError(429, "", "busy")]
    live, page = rig.build(), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: bool(page.offers))
    if call == "answer":
        live.answer(page, 1, SDP)
    live.ice(page, 1, (CANDIDATE, CANDIDATE), done=True)
    await until(lambda: page.state == "failed")
    await until(lambda: not service.open)
    await turns()
    assert page.states[-1] == (1, "failed", BUSY)
    assert service.signals == []  # nothing after the refused frame reaches the service


async def test_a_page_that_goes_away_has_its_stream_closed_untold(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    await go_live(live, page)
    await live.detach(page)
    await live.detach(page)  # gone already: nothing more to do
    await live.detach(MemoryLivePage(KEY))  # never had a stream
    await until(lambda: not service.open)
    assert page.state == "live" and live.open_streams == 0
    assert live.speaker(KEY, "t1", "ip-a") is None


async def test_a_page_that_went_away_while_its_stream_opened_gets_it_closed(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    await live.open(page)
    await live.detach(page)  # before the service answered
    await until(lambda: len(service.created) == 1)
    await until(lambda: not service.open)
    assert page.offers == [] and page.states == [(1, "opening", None)]


async def test_going_live_ends_the_connect_deadline(rig: LiveRig) -> None:
    live, page = rig.build(connect_seconds=0.0), MemoryLivePage(KEY)
    await go_live(live, page)
    await turns()
    assert page.state == "live"


async def test_a_turn_before_the_connection_keeps_the_connect_deadline(rig: LiveRig) -> None:
    live, page = rig.build(connect_seconds=0.0), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: bool(page.offers))
    assert live.speaker(KEY, "t1", "ip-a") is not None  # the stream is offered, not live
    await until(lambda: page.state == "failed")
    assert page.states[-1] == (1, "failed", NO_CONNECTION)


async def test_a_live_stream_stays_open_while_the_avatar_talks(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(idle_seconds=0.0), MemoryLivePage(KEY)
    await go_live(live, page)
    speaker = live.speaker(KEY, "t1", "ip-a")  # a turn: the idle close waits
    assert speaker is not None
    await turns()
    assert page.state == "live"
    speaker.feed("Hello there, this is a sentence that takes the avatar a while to say.")
    assert await speaker.finish() == "spoken"
    await turns()  # idle from when the avatar stops talking, seconds from now
    assert page.state == "live" and len(service.spoken) == 1


async def test_an_idle_close_reaches_a_page_whose_sends_yield(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(idle_seconds=0.0), SocketLivePage(KEY)
    await go_live(live, page)
    await until(lambda: page.state == "idle")
    await until(lambda: not service.open)
    assert page.states[-1] == (1, "idle", None)


async def test_a_slow_close_at_the_service_is_awaited_by_stop_not_by_the_page(
    rig: LiveRig,
) -> None:
    rig.service = service = SlowClosingStreams()
    live, page = rig.build(), MemoryLivePage(KEY)
    await go_live(live, page)
    await live.close(page, 1)
    assert page.state == "closed" and service.closed == []  # the page's frames go on
    await live.stop()
    assert service.closed == [service.created[0].id]


async def test_without_a_budget_every_sentence_is_said_uncounted(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(budget=False), MemoryLivePage(KEY)
    await go_live(live, page)
    speaker = live.speaker(KEY, "t1", "ip-a")
    assert speaker is not None
    speaker.feed("One. Two.")
    assert await speaker.finish() == "spoken"
    assert [text for _, text, _ in service.spoken] == ["One.", "Two."]
    assert streamed_ms(rig.counters) == 0


async def test_the_budget_counts_each_said_sentence_for_its_user(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(), MemoryLivePage(KEY)
    await go_live(live, page)
    speaker = live.speaker(KEY, "t1", "ip-b")
    assert speaker is not None
    speaker.feed("One. Two.")
    assert await speaker.finish() == "spoken"
    assert streamed_ms(rig.counters, "web:ip-b") == ms("One.") + ms("Two.")
    assert streamed_ms(rig.counters, "web:ip-a") == 0


async def test_stop_tells_every_page_and_leaves_no_live_task(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live = rig.build()
    pages = [MemoryLivePage(ConversationKey("web", f"c{n}")) for n in range(2)]
    for page in pages:
        await go_live(live, page)
    speaker = live.speaker(pages[0].key, "t1", "ip-a")
    assert speaker is not None
    speaker.feed("An answer still streaming,")
    finishing = asyncio.create_task(speaker.finish())
    await live.stop()
    assert live_tasks() == [] and not service.open  # every task ended, not just cancelled
    await until(finishing.done)  # its run cancelled: the turn is not left waiting,
    assert finishing.result() == "failed"  # and the answer not said goes to a clip
    assert [page.states[-1][1:] for page in pages] == [("closed", None)] * 2


def test_a_conversation_is_tagged_as_the_log_filter_tags_its_id() -> None:
    # bot/logs.py hashes a web id in every log line with adapters.web.identity.tag: the live
    # avatar's lines and task names must name the same conversation the same way.
    assert tag(KEY) == web_tag(KEY.chat_id) and tag(OTHER) != tag(KEY)
    assert KEY.chat_id not in tag(KEY)


async def test_every_live_task_is_named_for_its_work_and_its_conversations_tag(
    rig: LiveRig,
) -> None:
    live, page, t = rig.build(), MemoryLivePage(KEY), tag(KEY)
    await live.open(page)
    names = live_task_names()
    await until(lambda: bool(page.offers))
    names |= live_task_names()  # the connect deadline
    live.answer(page, 1, SDP)
    names |= live_task_names()
    await live.connection(page, 1, connected=True)
    names |= live_task_names()  # the idle close
    speaker = live.speaker(KEY, "t1", "ip-a")
    assert speaker is not None
    names |= live_task_names()
    speaker.feed("Hello.")
    assert await speaker.finish() == "spoken"
    await live.close(page, 1)
    names |= live_task_names()
    assert names == {
        f"live-open-{t}",
        f"live-failed-{t}-1",
        f"live-signal-{t}-1",
        f"live-idle-{t}-1",
        f"live-speak-{t}-t1",
        "live-close-strm_1",
    }


async def test_a_turn_while_the_service_is_slow_to_open_goes_to_a_clip_in_time(
    rig: LiveRig,
) -> None:
    rig.service = service = SlowOpeningStreams()
    live, page = rig.build(connect_seconds=0.0), MemoryLivePage(KEY)
    await live.open(page)
    speaker = live.speaker(KEY, "t1", "ip-a")  # opening: D-ID has not answered
    assert speaker is not None
    speaker.feed("Hello there.")
    finishing = asyncio.create_task(speaker.finish())
    await until(finishing.done)  # at the connect deadline, not when D-ID answers
    assert finishing.result() == "failed" and service.spoken == []


async def test_after_an_answer_with_nothing_to_say_the_idle_close_comes_at_once(
    rig: LiveRig, service: MemoryAvatarStreams
) -> None:
    live, page = rig.build(idle_seconds=0.0), MemoryLivePage(KEY)
    await go_live(live, page)
    speaker = live.speaker(KEY, "t1", "ip-a")
    assert speaker is not None
    assert await speaker.finish() == "spoken"
    await until(lambda: page.state == "idle")
    await until(lambda: not service.open)
