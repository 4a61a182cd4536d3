"""LiveSpeaker (core/avatar/live_speaker.py): which sentences of an answer the avatar says.

A speaker on one session of the in-memory `AvatarStreams`: the AVATAR_MAX_SECONDS cap at its
exact boundary, one voice per answer, nothing said after a refusal, and a stream that is not
live in time; then, through `LiveStreams`, a speaker waiting for the page's connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.avatar.live_session import LiveSession
from core.avatar.live_speaker import LiveSpeaker
from core.avatar.phrases import PHRASES
from core.avatar.script import estimate_seconds, resolve_phrases, sentences, spoken_script
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import StreamError
from core.limits import Limits
from core.types import ConversationKey
from tests.fakes.memory import (
    MemoryAvatarStreams,
    MemoryCounters,
    MemoryLivePage,
    MemoryPreferences,
)
from tests.unit.live_rig import (
    KEY,
    LiveRig,
    WordDetector,
    answer_voices,
    ms,
    streamed_ms,
    turns,
    until,
)

THREE = "The first one is short. The second sentence is a little longer. The third closes it."


class Done:
    """The speaker's `on_done`: records what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[LiveSession, StreamError | None, float]] = []

    async def __call__(
        self, session: LiveSession, error: StreamError | None, seconds: float
    ) -> None:
        self.calls.append((session, error, seconds))


@pytest.fixture
def service() -> MemoryAvatarStreams:
    return MemoryAvatarStreams()


@pytest.fixture
def counters() -> MemoryCounters:
    return MemoryCounters()


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[None]]]:
    """The speakers' run tasks of a test, cancelled at its end."""
    running: list[asyncio.Task[None]] = []
    try:
        yield running
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def session_of(service: MemoryAvatarStreams, state: str = "live") -> LiveSession:
    session = LiveSession(MemoryLivePage(KEY), 1)
    session.stream, session.state = await service.create(), state
    return session


def speaker_on(
    service: MemoryAvatarStreams,
    session: LiveSession,
    tasks: list[asyncio.Task[None]],
    *,
    done: Done,
    counters: MemoryCounters | None = None,
    max_seconds: float = 45.0,
    connect_seconds: float = 5.0,
    detector: WordDetector | None = None,
    question: str = "",
    preferences: MemoryPreferences | None = None,
) -> LiveSpeaker:
    budget = StreamBudget(counters, Limits()).answer("web:ip-a") if counters else None
    speaker = LiveSpeaker(
        service,
        session,
        budget=budget,
        voices=answer_voices(detector, preferences),
        question=question,
        max_seconds=max_seconds,
        connect_seconds=connect_seconds,
        on_done=done,
    )
    task = asyncio.create_task(speaker.run(), name="live-speak-test")
    task.add_done_callback(speaker.ended)
    tasks.append(task)
    return speaker


def said(service: MemoryAvatarStreams) -> list[str]:
    return [text for _, text, _ in service.spoken]


REST = PHRASES["en"].rest


async def test_an_answer_that_reaches_the_cap_exactly_is_said_whole(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    first, second, third = sentences(THREE)
    cap = estimate_seconds(first) + estimate_seconds(second) + estimate_seconds(third)
    assert estimate_seconds(first) + estimate_seconds(second) + estimate_seconds(REST) > cap
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, max_seconds=cap)
    speaker.feed(THREE)  # the first two are complete; is the third the last?
    await turns()
    assert said(service) == [first]  # the second fits only if the answer ends in time
    assert await speaker.finish() == "spoken"
    assert said(service) == [first, second, third]
    assert " ".join(said(service)) == spoken_script(THREE, cap).text
    await until(lambda: bool(done.calls))
    assert done.calls == [(session, None, cap)]  # the seconds the avatar says


async def test_at_the_cap_the_avatar_says_the_rest_phrase_and_nothing_more(
    service: MemoryAvatarStreams, counters: MemoryCounters, tasks: list[asyncio.Task[None]]
) -> None:
    text = "Short one. " + "This sentence goes on and on " * 6 + "until it ends. Tiny."
    first, long, last = sentences(text)
    cap = estimate_seconds(first) + estimate_seconds(REST) + estimate_seconds(last) + 0.01
    assert cap < estimate_seconds(first) + estimate_seconds(long)
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, counters=counters, max_seconds=cap)
    speaker.feed(text)
    assert await speaker.finish() == "spoken"
    assert said(service) == [first, REST]  # not "Tiny.", though it would fit
    assert " ".join(said(service)) == spoken_script(text, cap).text
    assert streamed_ms(counters) == ms(first) + ms(REST)  # the phrase is reserved as said


async def test_the_rest_phrase_is_in_the_answers_language(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    text = "Hallo, hier ist die Antwort. " + "Dieser Satz geht immer weiter und weiter " * 8 + "."
    first = sentences(text, "de")[0]
    cap = estimate_seconds(first) + estimate_seconds(PHRASES["de"].rest) + 1.0
    detector = WordDetector({"Hallo": "de"})
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, max_seconds=cap, detector=detector)
    speaker.feed(text)
    assert await speaker.finish() == "spoken"
    assert said(service) == [first, "Der Rest steht im Chat."]
    assert voices(service) == ["voice-de"] * 2


FIVE = (
    "Here is the plan for today. First we go to the market. Then we cook a large dinner "
    "for all of our friends and family. After that we wash up. Finally we sleep well."
)
HEADED = (
    "# Market day\n\nHere is the plan for today. First we go to the market.\n\n## Dinner\n\n"
    "Then we cook a large dinner for all of our friends and family.\n\n## Afterwards\n\n"
    "After that we wash up. Finally we sleep well."
)
GERMAN = (
    "Hallo, führe zuerst `make setup` aus. Dann geht es weiter.\n\n```bash\nmake run\n```\n\n"
    "Danach öffnest du den Link [hier](https://example.com) im Browser. Zum Schluss startest "
    "du den Bot neu, und alles läuft."
)
HEADINGS = {"Market day.", "Dinner.", "Afterwards."}  # HEADED's
CUT_ANSWERS = {"plain": (FIVE, None), "headings": (HEADED, None), "german-code": (GERMAN, "de")}


def cut_caps(answer: str, language: str | None) -> list[float]:
    """Caps at and around each point where a clip's script cuts `answer` (not inside its first
    sentence that is no heading), and the one the whole answer just fits."""
    phrases = resolve_phrases(answer, language)
    parts, headings = sentences(answer, language), HEADINGS
    rest, caps, used, first = estimate_seconds(phrases.rest), [], 0.0, None
    for part in parts:
        used += estimate_seconds(part)
        if first is None and part not in headings:
            first = used  # less room: a clip cuts this sentence, the live avatar leaves it
        caps += [used + rest - 0.01, used + rest, used + rest + 0.01]
    assert first is not None
    return [cap for cap in caps if cap - rest >= first] + [used]  # as a clip sums, in floats


@pytest.mark.parametrize(
    ("answer", "language", "cap"),
    [
        pytest.param(answer, language, cap, id=f"{name}-{cap:.2f}s")
        for name, (answer, language) in CUT_ANSWERS.items()
        for cap in cut_caps(answer, language)
    ],
)
async def test_the_live_avatar_says_what_a_clips_script_says(
    service: MemoryAvatarStreams,
    tasks: list[asyncio.Task[None]],
    answer: str,
    language: str | None,
    cap: float,
) -> None:
    done, session = Done(), await session_of(service)
    detector = WordDetector({"Hallo": "de"})  # lingua names the German prose; the rest: unsure
    speaker = speaker_on(service, session, tasks, done=done, max_seconds=cap, detector=detector)
    for word in answer.split(" "):  # as the model streams it
        speaker.feed(word + " ")
    assert await speaker.finish() == "spoken"
    assert " ".join(said(service)) == spoken_script(answer, cap, language).text


async def test_a_heading_just_before_the_cut_is_not_said(
    service: MemoryAvatarStreams, counters: MemoryCounters, tasks: list[asyncio.Task[None]]
) -> None:
    parts = sentences(HEADED)
    assert parts[3] == "Dinner."  # the heading of the sentence that does not fit
    cap = sum(estimate_seconds(part) for part in parts[:4]) + estimate_seconds(REST)
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, counters=counters, max_seconds=cap)
    speaker.feed(HEADED)
    assert await speaker.finish() == "spoken"
    assert said(service) == [*parts[:3], REST]
    assert streamed_ms(counters) == sum(ms(part) for part in [*parts[:3], REST])


async def test_an_answer_whose_only_sentences_before_the_cut_are_headings_is_left_to_a_clip(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    text = "# Dinner\n\n" + "This sentence goes on and on " * 6 + "until it ends. Tiny."
    heading, long, _ = sentences(text)
    cap = estimate_seconds(heading) + estimate_seconds(REST) + 0.5
    assert cap < estimate_seconds(long) + estimate_seconds(REST)
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, max_seconds=cap)
    speaker.feed(text)
    assert await speaker.finish() == "failed"  # a clip cuts the long sentence instead
    assert said(service) == [] and not spoken_script(text, cap).text.startswith(heading)


async def test_the_chats_pointers_are_in_the_language_the_detector_names(
    service: MemoryAvatarStreams, counters: MemoryCounters, tasks: list[asyncio.Task[None]]
) -> None:
    detector = WordDetector({"Hallo": "de"})  # a Latin script alone would guess English
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, counters=counters, detector=detector)
    for word in GERMAN.split(" "):
        speaker.feed(word + " ")
        await turns(5)  # the first sentence is chosen for while the rest streams in
    assert await speaker.finish() == "spoken"
    german = sentences(GERMAN, "de")
    assert said(service) == german  # each once, the first one too
    assert german[0] == "Hallo, führe zuerst Code im Chat aus." and PHRASES["de"].code in german
    assert " ".join(german) == spoken_script(GERMAN, 45.0, "de").text
    assert streamed_ms(counters) == sum(ms(sentence) for sentence in german)
    assert len(detector.asked) == 1


def voices(service: MemoryAvatarStreams) -> list[str]:
    return [voice for _, _, voice in service.spoken]


async def test_the_whole_answer_is_said_in_the_voice_of_its_first_sentence(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    done, session, detector = Done(), await session_of(service), WordDetector()
    speaker = speaker_on(service, session, tasks, done=done, detector=detector)
    speaker.feed("Hello there, friend. ")
    speaker.feed("Привет, как у тебя дела сегодня?")
    assert await speaker.finish() == "spoken"
    assert voices(service) == ["voice-en", "voice-en"]
    assert len(detector.asked) == 1  # told once, at the first sentence


async def test_the_voice_is_the_one_for_the_language_the_detector_names_in_the_prose(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    detector = WordDetector({"Hallo": "de"})  # lingua's part: a Latin script tells nothing
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, detector=detector)
    speaker.feed("Hallo, so geht das: `pip install avatarbot`. Dann ")
    speaker.feed("starte den Bot.")
    assert await speaker.finish() == "spoken"
    assert voices(service) == ["voice-de", "voice-de"]
    # What the clip path asks: the prose of the answer so far (its code tells no language).
    assert detector.asked == ["Hallo, so geht das:  . Dann "]


async def test_a_short_answers_language_is_told_with_its_question_as_a_clips_is(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    detector = WordDetector({"Wetter": "de"})
    done, session = Done(), await session_of(service)
    question = "Wie wird das Wetter morgen?"
    speaker = speaker_on(service, session, tasks, done=done, detector=detector, question=question)
    speaker.feed("Sonnig. Und ")  # "Sonnig." is complete
    speaker.feed("warm.")
    assert await speaker.finish() == "spoken"
    assert voices(service) == ["voice-de", "voice-de"]
    assert detector.asked == ["Sonnig. Und ", f"Sonnig. Und \n{question}"]


async def test_the_chats_own_voice_says_every_answer_over_the_languages(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    preferences, other = MemoryPreferences(), ConversationKey("web", "conversation-2")
    await preferences.set_voice_id(KEY, "en-US-GuyNeural")  # `/voice Guy` in this chat
    await preferences.set_voice_id(other, "de-DE-ConradNeural")
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, preferences=preferences)
    speaker.feed(THREE)
    assert await speaker.finish() == "spoken"
    assert voices(service) == ["en-US-GuyNeural"] * 3


async def test_after_a_refused_sentence_nothing_more_is_said_and_it_is_given_back(
    service: MemoryAvatarStreams, counters: MemoryCounters, tasks: list[asyncio.Task[None]]
) -> None:
    refused = StreamError(500, "", "down")
    service.refuse["speak"] = [refused]
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, counters=counters)
    speaker.feed(THREE)
    assert await speaker.finish() == "failed"
    assert said(service) == [] and streamed_ms(counters) == 0
    await until(lambda: bool(done.calls))
    assert done.calls == [(session, refused, 0.0)] and speaker.error is refused


async def test_a_sentence_d_id_may_be_saying_though_its_answer_was_lost_stays_counted(
    service: MemoryAvatarStreams, counters: MemoryCounters, tasks: list[asyncio.Task[None]]
) -> None:
    lost = StreamError(None, "ReadTimeout", "")
    service.refuse["speak"] = [lost]
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, counters=counters)
    speaker.feed(THREE)
    assert await speaker.finish() == "failed"
    assert streamed_ms(counters) == ms(sentences(THREE)[0])  # not given back
    assert speaker.error is lost


async def test_each_said_sentence_is_counted_against_the_budget(
    service: MemoryAvatarStreams, counters: MemoryCounters, tasks: list[asyncio.Task[None]]
) -> None:
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, counters=counters)
    speaker.feed(THREE)
    assert await speaker.finish() == "spoken"
    assert streamed_ms(counters) == sum(ms(s) for s in sentences(THREE))
    assert speaker.refusal is None and speaker.error is None


async def test_a_stream_not_live_in_time_fails_the_answer(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    done, session = Done(), await session_of(service, state="offered")
    speaker = speaker_on(service, session, tasks, done=done, connect_seconds=0.0)
    speaker.feed(THREE)
    finishing = asyncio.create_task(speaker.finish())
    await until(finishing.done)  # at the deadline: nothing else would end the wait
    assert finishing.result() == "failed"
    assert said(service) == [] and speaker.error is not None and speaker.error.status is None
    await until(lambda: bool(done.calls))
    assert done.calls == [(session, speaker.error, 0.0)]


@pytest.fixture
async def rig(service: MemoryAvatarStreams) -> AsyncIterator[LiveRig]:
    made = LiveRig(service, MemoryCounters())
    try:
        yield made
    finally:
        await made.stop()


@pytest.mark.parametrize("connected", [True, False], ids=["connected", "failed"])
async def test_a_speaker_waits_for_the_pages_connection_and_hears_how_it_went(
    rig: LiveRig, service: MemoryAvatarStreams, connected: bool
) -> None:
    live, page = rig.build(connect_seconds=60.0), MemoryLivePage(KEY)
    await live.open(page)
    await until(lambda: bool(page.offers))
    speaker = live.speaker(KEY, "t1", "ip-a")  # offered: the page is still connecting
    assert speaker is not None
    speaker.feed("Hello there.")
    finishing = asyncio.create_task(speaker.finish())
    await turns()
    assert not finishing.done()
    await live.connection(page, 1, connected=connected)
    await until(finishing.done)  # at once, not at the connect deadline
    assert finishing.result() == ("spoken" if connected else "failed")
    assert said(service) == (["Hello there."] if connected else [])


async def test_a_first_sentence_that_leaves_no_room_for_the_rest_phrase_is_left_to_a_clip(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    first = sentences(FIVE)[0]
    cap = estimate_seconds(first) + estimate_seconds(REST) - 0.01
    done, session = Done(), await session_of(service)
    speaker = speaker_on(service, session, tasks, done=done, max_seconds=cap)
    speaker.feed(FIVE)
    assert await speaker.finish() == "failed"  # a clip cuts the sentence to make room
    assert said(service) == [] and spoken_script(FIVE, cap).text.endswith(REST)


async def test_a_first_sentence_alone_past_the_cap_is_left_to_a_clip(
    service: MemoryAvatarStreams, tasks: list[asyncio.Task[None]]
) -> None:
    text = "This sentence goes on and on " * 6 + "until it ends. Tiny."
    long, short = sentences(text)
    done, session = Done(), await session_of(service)
    cap = estimate_seconds(long) - 0.01
    speaker = speaker_on(service, session, tasks, done=done, max_seconds=cap)
    speaker.feed(text)
    assert await speaker.finish() == "failed"  # a clip trims it to the cap; live says nothing
    assert said(service) == [] and speaker.error is None
    await until(lambda: bool(done.calls))
    assert done.calls == [(session, None, 0.0)]  # the stream itself is fine
