"""Conversations on in-memory fakes: the prompt it builds, the events it yields, the exact line
for each refusal, what it stores and counts, and the admins' stats line."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from core.conversation import Conversations
from core.errors import BadInputError, ServiceError
from core.images import NOT_AN_IMAGE
from core.limits import Charge, Limits
from core.ports import UsageSink
from core.prompts import ConversationSettings
from core.quota import Quotas
from core.types import (
    Audio,
    ChatMessage,
    ConversationKey,
    Event,
    Failure,
    FinalText,
    Image,
    ReplyMode,
    TextDelta,
    Transcript,
    Transcription,
    Turn,
)
from core.usage import LLM_TOKENS, Usage
from tests.fakes.memory import (
    MemoryCounters,
    MemoryHistory,
    MemoryPreferences,
    ScriptedModel,
    ScriptedTranscriber,
)
from tests.photos import png

KEY = ConversationKey("memory", "c1")
NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
OOPS = "Something went wrong on my side — please try again."


class RecordingMetrics:
    """Metrics: notes each call (timings as whether they were given)."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def message(self, platform: str) -> None:
        self.calls.append(("message", platform))

    def first_text(self, platform: str, seconds: float) -> None:
        self.calls.append(("first_text", platform, seconds >= 0))

    def answer(self, platform: str, outcome: str, seconds: float) -> None:
        self.calls.append(("answer", platform, outcome, seconds >= 0))

    def render(self, state: str, seconds: float | None = None) -> None:
        self.calls.append(("render", state))

    def retry(self, service: str) -> None:
        self.calls.append(("retry", service))

    def refusal(self, limit: str) -> None:
        self.calls.append(("refusal", limit))


class CrashingModel(ScriptedModel):
    """A model whose stream raises `error` after its first piece."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def stream(
        self, messages: Sequence[ChatMessage], *, on_usage: UsageSink | None = None
    ) -> AsyncIterator[str]:
        self.prompts.append(list(messages))
        yield "Half"
        raise self.error


class Rig:
    def __init__(
        self,
        *,
        model: ScriptedModel | None = None,
        limits: Limits | None = None,
        transcriber: bool = True,
        vision: ScriptedModel | None = None,
        metrics: RecordingMetrics | None = None,
        **settings: int,
    ) -> None:
        self.history, self.model = MemoryHistory(), model or ScriptedModel()
        self.transcriber = ScriptedTranscriber()
        self.counters, self.metrics = MemoryCounters(), metrics or RecordingMetrics()
        self.quotas = Quotas(self.counters, limits or Limits(), lambda: NOON)
        self.conversations = Conversations(
            settings=ConversationSettings(system_prompt="Be brief.", **settings),  # type: ignore[arg-type]
            history=self.history,
            preferences=MemoryPreferences(),
            model=self.model,
            transcriber=self.transcriber if transcriber else None,
            jobs=None,
            quotas=self.quotas,
            metrics=self.metrics,
            vision=vision,
        )

    async def events(self, turn: Turn) -> list[Event]:
        return [event async for event in self.conversations.handle(turn)]

    async def count(self, name: str) -> int:
        return (await self.quotas.today())[name]


def text(value: str, user: str = "u1") -> Turn:
    return Turn(KEY, user, text=value)


async def test_an_answer_streams_its_pieces_then_the_stripped_whole_and_is_stored() -> None:
    rig = Rig(model=ScriptedModel("Hello there. "))
    assert await rig.events(text("  Hi  ")) == [
        TextDelta("Hello", "Hello"),
        TextDelta(" there.", "Hello there."),
        TextDelta(" ", "Hello there. "),
        FinalText("Hello there.", None),
    ]
    assert rig.history.messages[KEY] == [
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello there."),
    ]
    assert rig.metrics.calls == [
        ("message", "memory"),
        ("first_text", "memory", True),
        ("answer", "memory", "answered", True),
    ]
    assert await rig.count("messages") == 1


async def test_the_prompt_is_the_persona_the_last_messages_and_the_question() -> None:
    rig = Rig(history_limit=2)
    for question in ("one", "two", "three"):
        await rig.events(text(question))
    assert rig.model.prompts[-1] == [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "two"),
        ChatMessage("assistant", "Hello there."),
        ChatMessage("user", "three"),
    ]
    assert rig.model.prompts[0] == [ChatMessage("system", "Be brief."), ChatMessage("user", "one")]


async def test_a_voice_turn_shows_what_was_heard_and_answers_it_in_its_language() -> None:
    rig = Rig()
    rig.transcriber.heard[b"ogg"] = Transcription("Hola", "es")
    events = await rig.events(Turn(KEY, "u1", audio=Audio(b"ogg", "audio/ogg", "v.ogg")))
    assert events[0] == Transcript("Hola", "es")
    assert events[-1] == FinalText("Hello there.", "es")
    assert rig.history.messages[KEY][0] == ChatMessage("user", "Hola")


async def test_a_voice_turn_where_no_transcriber_is_set_is_one_line() -> None:
    rig = Rig(transcriber=False)
    events = await rig.events(Turn(KEY, "u1", audio=Audio(b"ogg", "audio/ogg", "v.ogg")))
    assert events == [Failure("I can only read text here.")]


@pytest.mark.parametrize("empty", ["", "   \n ", None])
async def test_an_empty_message_asks_for_one(empty: str | None) -> None:
    rig = Rig()
    assert await rig.events(Turn(KEY, "u1", text=empty)) == [
        Failure("Send me a message or a voice note and I'll answer.")
    ]
    assert rig.model.prompts == [] and await rig.count("errors") == 0


async def test_a_message_up_to_the_limit_is_answered_and_one_over_it_is_not() -> None:
    rig = Rig(max_text_chars=1234)
    assert isinstance((await rig.events(text("a" * 1234)))[-1], FinalText)
    assert await rig.events(text("a" * 1235)) == [
        Failure("That's too long for me — please keep it under 1,234 characters.")
    ]
    assert len(rig.model.prompts) == 1


async def test_an_empty_answer_is_a_service_failure_and_nothing_is_stored() -> None:
    rig = Rig(model=ScriptedModel("   "))
    events = await rig.events(text("Hi"))
    assert events[-1] == Failure("I couldn't come up with an answer — try asking another way.")
    assert rig.history.messages == {}
    assert await rig.count("errors") == 1
    assert rig.metrics.calls[-1] == ("answer", "memory", "failed", True)


@pytest.mark.parametrize(
    ("error", "line", "errors"),
    [
        (ServiceError("Busy.", detail="429"), "Busy.", 1),
        (BadInputError("Not that.", detail="bad"), "Not that.", 0),
        (RuntimeError("bug"), OOPS, 1),
    ],
)
async def test_a_failure_mid_answer_is_one_line_and_counted_if_it_is_ours(
    error: Exception, line: str, errors: int
) -> None:
    rig = Rig(model=CrashingModel(error))
    assert await rig.events(text("Hi")) == [TextDelta("Half", "Half"), Failure(line)]
    assert rig.history.messages == {}
    assert await rig.count("errors") == errors


async def test_a_message_over_the_rate_limit_is_refused_counted_and_not_answered() -> None:
    rig = Rig(limits=Limits(messages_per_minute=1))
    await rig.events(text("one"))
    assert await rig.events(text("two")) == [
        Failure("You're sending messages faster than I can answer — please wait a minute.")
    ]
    assert await rig.events(text("three", user="u2")) != []  # per user
    assert len(rig.model.prompts) == 2
    assert await rig.count("refusals") == 1
    assert ("refusal", "messages") in rig.metrics.calls


async def test_reset_forgets_the_conversation_only() -> None:
    rig = Rig()
    other = ConversationKey("memory", "c2")
    await rig.events(text("Hi"))
    await rig.events(Turn(other, "u1", text="Hi"))
    await rig.conversations.reset(KEY)
    assert KEY not in rig.history.messages and len(rig.history.messages[other]) == 2
    assert len(rig.conversations.locks) == 0  # no lock left behind


async def test_without_d_id_there_are_no_videos_whatever_the_switch() -> None:
    rig = Rig()
    assert not rig.conversations.avatar_available
    await rig.conversations.set_avatar(KEY, True)
    assert not await rig.conversations.avatar_enabled(KEY)
    assert await rig.conversations.render_avatar(KEY, "Hello.", "t", "u1") is None


async def test_the_stats_line_for_admins() -> None:
    rig = Rig(limits=Limits(messages_per_minute=1))
    await rig.events(text("Hi"))
    await rig.events(text("again"))  # refused
    await rig.quotas.reserve_render("memory:u1", 116.5)
    await rig.quotas.note("errors")
    assert await rig.conversations.stats() == (
        "Today (UTC): 2 messages, 1 videos of 116.5 s in all (≈ 8 D-ID credits), 1 errors, "
        "1 refused over limits; 0 videos rendering now."
    )
    bare = Conversations(
        settings=ConversationSettings(system_prompt="x"),
        history=MemoryHistory(),
        preferences=MemoryPreferences(),
        model=ScriptedModel(),
        transcriber=None,
        jobs=None,
    )
    assert await bare.stats() == (
        "Today (UTC): 0 messages, 0 videos of 0.0 s in all (≈ 0 D-ID credits), 0 errors, "
        "0 refused over limits; 0 videos rendering now."
    )


async def test_a_photo_goes_to_the_vision_model_and_history_keeps_a_note_of_it() -> None:
    vision = ScriptedModel("A grey square.")
    rig = Rig(vision=vision)
    await rig.events(text("Hi"))
    photo = png(4, 3)
    turn = Turn(KEY, "u1", text="  What is it?  ", image=Image(photo, "image/jpeg"))
    assert (await rig.events(turn))[-1] == FinalText("A grey square.", None)
    assert len(rig.model.prompts) == 1  # LLM_MODEL answered the text only
    assert vision.prompts == [
        [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello there."),
            ChatMessage("user", "What is it?", Image(photo, "image/png")),
        ]
    ]
    assert rig.history.messages[KEY][2:] == [
        ChatMessage("user", "[photo] What is it?"),
        ChatMessage("assistant", "A grey square."),
    ]
    assert rig.conversations.vision_available and not Rig().conversations.vision_available


async def test_a_photo_without_a_caption_is_asked_about_as_it_is() -> None:
    vision = ScriptedModel("A grey square.")
    rig = Rig(vision=vision)
    assert (await rig.events(Turn(KEY, "u1", image=Image(png(4, 3)))))[-1] == FinalText(
        "A grey square.", None
    )
    assert vision.prompts[0][-1] == ChatMessage("user", "", Image(png(4, 3), "image/png"))
    assert rig.history.messages[KEY][0] == ChatMessage("user", "[photo]")


@pytest.mark.parametrize(
    ("vision", "caption", "data", "line"),
    [
        (False, "Look", png(4, 3), "I can't look at photos here — send me text or a voice note."),
        (True, "a" * 51, png(4, 3), "That's too long for me — please keep it under 50 characters."),
        (True, "Look", b"not a photo", NOT_AN_IMAGE),
    ],
    ids=["no-vision-model", "caption-too-long", "not-an-image"],
)
async def test_a_photo_that_cannot_be_answered_is_one_line(
    vision: bool, caption: str, data: bytes, line: str
) -> None:
    model = ScriptedModel()
    rig = Rig(vision=model if vision else None, max_text_chars=50)
    turn = Turn(KEY, "u1", text=caption, image=Image(data))
    assert await rig.events(turn) == [Failure(line)]
    assert model.prompts == rig.model.prompts == [] and rig.history.messages == {}


async def test_a_caption_of_exactly_the_limit_goes_with_its_photo() -> None:
    vision = ScriptedModel()
    rig = Rig(vision=vision, max_text_chars=50)
    turn = Turn(KEY, "u1", text=" " + "a" * 50 + " ", image=Image(png(4, 3)))
    assert isinstance((await rig.events(turn))[-1], FinalText)
    assert vision.prompts[0][-1].content == "a" * 50


class TimingMetrics(RecordingMetrics):
    """Metrics: keeps the seconds each timing was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def first_text(self, platform: str, seconds: float) -> None:
        self.seconds.append(seconds)

    def answer(self, platform: str, outcome: str, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.mark.parametrize("reply", ["Hello there.", "   "], ids=["answered", "failed"])
async def test_an_answers_timings_are_the_seconds_since_it_arrived(reply: str) -> None:
    metrics = TimingMetrics()
    rig = Rig(model=ScriptedModel(reply), metrics=metrics)
    before = time.monotonic()
    await rig.events(text("Hi"))
    took = time.monotonic() - before
    assert metrics.seconds and all(0 <= seconds <= took for seconds in metrics.seconds)


class EnteredModel(ScriptedModel):
    """A model that says when it was asked, then waits for its gate."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.gate = asyncio.Event()

    async def stream(
        self, messages: Sequence[ChatMessage], *, on_usage: UsageSink | None = None
    ) -> AsyncIterator[str]:
        self.asked.set()
        async for piece in super().stream(messages, on_usage=on_usage):
            yield piece


async def test_reset_waits_for_the_answer_in_progress_then_forgets_it() -> None:
    model = EnteredModel()
    rig = Rig(model=model)
    answering = asyncio.create_task(rig.events(text("Hi")), name="test-answer")
    try:
        await model.asked.wait()
        resetting = asyncio.create_task(rig.conversations.reset(KEY), name="test-reset")
        assert model.gate is not None
        model.gate.set()
        assert (await answering)[-1] == FinalText("Hello there.", None)
        await resetting
    finally:
        answering.cancel()
    assert KEY not in rig.history.messages


@pytest.mark.parametrize(
    ("mode", "enabled", "after"),
    [
        ("voice", True, "voice"),
        ("text", True, "video"),
        ("text", False, "text"),
        ("voice", False, "voice"),
    ],
    ids=["on-keeps-voice", "on-undoes-text", "off-keeps-text", "off-keeps-voice"],
)
async def test_the_avatar_switch_changes_only_a_text_only_chat_switched_on(
    mode: ReplyMode, enabled: bool, after: ReplyMode
) -> None:
    preferences = MemoryPreferences()
    conversations = Conversations(
        settings=ConversationSettings(system_prompt="x"),
        history=MemoryHistory(),
        preferences=preferences,
        model=ScriptedModel(),
        transcriber=None,
        jobs=None,
    )
    await preferences.set_reply_mode(KEY, mode)
    await conversations.set_avatar(KEY, enabled)
    assert await preferences.reply_mode(KEY) == after
    assert preferences.avatar[("memory", "c1")] is enabled


class BrokenCounters(MemoryCounters):
    """Counters whose writes fail, as a database gone away would."""

    async def add_within(self, charges: Sequence[Charge]) -> int | None:
        raise ConnectionError("database gone")


@pytest.mark.parametrize("counters", ["working", "broken"])
async def test_an_answers_tokens_are_counted_and_a_failed_count_fails_nothing(
    counters: str,
) -> None:
    store = MemoryCounters() if counters == "working" else BrokenCounters()
    conversations = Conversations(
        settings=ConversationSettings(system_prompt="Be brief."),
        history=MemoryHistory(),
        preferences=MemoryPreferences(),
        model=ScriptedModel("One two three."),
        transcriber=None,
        jobs=None,
        usage=Usage(store, clock=lambda: NOON),
    )
    events = [event async for event in conversations.handle(text("Hello there"))]
    assert events[-1] == FinalText("One two three.", None)
    tokens = await store.get("2026-12-01", "memory:u1", LLM_TOKENS)
    assert tokens == (2 + 2 + 3 if counters == "working" else 0)


def test_without_d_id_nothing_is_paused_and_answers_are_text() -> None:
    conversations = Rig().conversations
    assert not conversations.video_paused and not conversations.avatar_available
    assert conversations.default_reply_mode == "text"
