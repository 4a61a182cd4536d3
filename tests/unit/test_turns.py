"""The turn runner and Conversations driven directly, on in-memory fakes of every port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from core.conversation import Conversations
from core.errors import ServiceError
from core.limits import Limits
from core.prompts import ConversationSettings
from core.quota import Quotas
from core.turn_ports import NO_VIDEO
from core.turns import NOT_SHOWN, TurnRunner
from core.types import ChatMessage, ConversationKey, InboxEntry, Transcription
from tests.fakes.memory import (
    MemoryCounters,
    MemoryHistory,
    MemoryInbox,
    MemoryPlatform,
    MemoryPreferences,
    RecordingView,
    ScriptedModel,
    ScriptedTranscriber,
)

KEY = ConversationKey("memory", "c1")


async def until(condition: Callable[[], bool]) -> None:
    """Let the runner's tasks go on until `condition` holds (a bounded number of loop turns)."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


class Rig:
    def __init__(self, *, quotas: Quotas | None = None) -> None:
        self.history, self.inbox = MemoryHistory(), MemoryInbox()
        self.model, self.transcriber = ScriptedModel(), ScriptedTranscriber()
        self.platform = MemoryPlatform()
        self.conversations = Conversations(
            settings=ConversationSettings(system_prompt="Be brief."),
            history=self.history,
            preferences=MemoryPreferences(),
            model=self.model,
            transcriber=self.transcriber,
            jobs=None,
            quotas=quotas,
        )
        self.runner = TurnRunner(self.conversations, self.inbox, retry_backoff=0)

    async def settle(self) -> None:
        """Wait until every accepted message has been answered or given up."""
        await until(lambda: not self.runner.running)

    def view(self, message_key: str) -> RecordingView:
        return self.platform.views[message_key]


@pytest.fixture
def rig() -> Rig:
    return Rig()


async def test_a_message_is_recorded_answered_shown_and_marked_answered(rig: Rig) -> None:
    assert await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi there")
    await rig.settle()
    view = rig.view("m1")
    assert view.steps("partial")[-1] == "Hello there."
    assert view.steps("final") == ["Hello there."]
    assert rig.inbox.unanswered("memory") == []
    assert rig.history.messages[KEY] == [
        ChatMessage("user", "Hi there"),
        ChatMessage("assistant", "Hello there."),
    ]


async def test_a_redelivered_message_is_answered_once(rig: Rig) -> None:
    assert await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    assert not await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await rig.settle()
    assert len(rig.model.prompts) == 1


async def test_a_final_text_that_fails_to_show_is_retried_then_sent_plainly(rig: Rig) -> None:
    rig.platform.views["m1"] = view = RecordingView(fail={"final": 3, "partial": 99})
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await rig.settle()
    assert view.steps("plain") == ["Hello there."]
    assert view.steps("failure") == []  # never an apology in place of the answer
    assert rig.history.messages[KEY][-1] == ChatMessage("assistant", "Hello there.")
    assert rig.inbox.unanswered("memory") == []


async def test_an_answer_nothing_can_show_gets_one_line_and_stays_in_history(rig: Rig) -> None:
    rig.platform.views["m1"] = view = RecordingView(fail={"final": 3, "plain": 1})
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await rig.settle()
    assert view.steps("failure") == [NOT_SHOWN]
    assert rig.history.messages[KEY][-1] == ChatMessage("assistant", "Hello there.")


async def test_an_answer_shown_where_no_video_can_go_requests_none(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets: list[str] = []

    async def render_avatar(key: ConversationKey, text: str, target: str, *_: object) -> None:
        targets.append(target)

    monkeypatch.setattr(rig.conversations, "render_avatar", render_avatar)
    rig.platform.views["m2"] = view = RecordingView(target=NO_VIDEO)
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await rig.runner.accept(rig.platform, "m2", "c2|u1|Hi")
    await rig.settle()
    assert view.steps("final") == ["Hello there."] and view.steps("plain") == []
    assert targets == ["answer-1"]  # m1's; none for m2
    assert rig.inbox.unanswered("memory") == []


async def test_a_model_failure_is_one_line_and_nothing_is_stored(rig: Rig) -> None:
    rig.model.fail_next = ServiceError("The answering service isn't answering right now.")
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await rig.settle()
    assert rig.view("m1").steps("failure") == ["The answering service isn't answering right now."]
    assert KEY not in rig.history.messages
    assert rig.inbox.unanswered("memory") == []  # answered, with the line


async def test_a_declined_message_gets_its_line_and_counts_as_answered(rig: Rig) -> None:
    rig.platform.decline["m1"] = "That file is too big for me."
    await rig.runner.accept(rig.platform, "m1", "c1|u1|audio:x")
    await rig.settle()
    assert rig.view("m1").steps("failure") == ["That file is too big for me."]
    assert rig.model.prompts == [] and rig.inbox.unanswered("memory") == []


async def test_a_command_the_platform_carries_out_takes_its_place_and_counts_as_answered(
    rig: Rig,
) -> None:
    rig.model.gate = gate = asyncio.Event()
    await rig.runner.accept_many(
        rig.platform, [("m1", "c1|u1|Hi"), ("m2", "c1|u1|/reset"), ("m3", "c1|u1|Again")]
    )
    await until(lambda: len(rig.model.prompts) == 1)
    assert rig.platform.commands == []  # behind the answer in flight
    gate.set()
    await rig.settle()
    assert rig.platform.commands == ["/reset"]
    assert [p[-1].content for p in rig.model.prompts] == ["Hi", "Again"]
    assert rig.view("m2").shown == [] and rig.inbox.unanswered("memory") == []


async def test_a_voice_message_shows_its_transcript_first(rig: Rig) -> None:
    rig.transcriber.heard[b"ogg"] = Transcription("¿Qué tal?", "es")
    await rig.runner.accept(rig.platform, "m1", "c1|u1|audio:ogg")
    await rig.settle()
    assert rig.view("m1").shown[0] == ("transcript", "¿Qué tal?")
    assert rig.history.messages[KEY][0] == ChatMessage("user", "¿Qué tal?")


async def test_messages_of_one_conversation_are_answered_in_order(rig: Rig) -> None:
    slow = rig.platform.decode_gate["m1"] = asyncio.Event()  # m1's audio download is slow
    rig.model.reply = lambda messages: f"re: {messages[-1].content}"
    await rig.runner.accept(rig.platform, "m1", "c1|u1|first")
    await rig.runner.accept(rig.platform, "m2", "c1|u1|second")
    await rig.runner.accept(rig.platform, "m3", "c2|u2|elsewhere")
    await until(lambda: "m3" in rig.platform.views and bool(rig.view("m3").steps("final")))
    assert "m2" not in rig.platform.views  # waits behind m1; the other chat did not
    slow.set()
    await rig.settle()
    assert [m.content for m in rig.history.messages[KEY]] == [
        "first",
        "re: first",
        "second",
        "re: second",
    ]


async def test_unanswered_messages_are_replayed_on_start(rig: Rig) -> None:
    await rig.inbox.record_many("memory", [("m1", "c1|u1|one"), ("m2", "c2|u1|two")])
    await rig.inbox.release()  # recorded by a process that stopped
    assert await rig.runner.replay(rig.platform) == 2
    await rig.settle()
    assert rig.inbox.unanswered("memory") == []
    assert await rig.runner.replay(rig.platform) == 0


async def test_drain_leaves_what_is_still_running_for_the_next_start(rig: Rig) -> None:
    rig.model.gate = asyncio.Event()  # the model never answers in time
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await until(lambda: bool(rig.model.prompts))
    await rig.runner.drain(grace=0.01)
    assert rig.runner.running == 0
    assert not await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")  # recorded already
    assert rig.inbox.unanswered("memory") == ["m1"]
    # The next start answers it.
    await rig.inbox.release()
    rig.model.gate.set()
    again = TurnRunner(rig.conversations, rig.inbox)
    assert await again.replay(rig.platform) == 1
    await until(lambda: not again.running)
    assert rig.view("m1").steps("final") == ["Hello there."]


class FinishingPlatform(MemoryPlatform):
    """MemoryPlatform that notes what the runner says it is done with."""

    def __init__(self) -> None:
        super().__init__()
        self.finished_with: list[tuple[str, bool]] = []

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        self.finished_with.append((entry.message_key, answered))


async def test_a_platform_hears_once_when_each_message_is_done_with(rig: Rig) -> None:
    platform = rig.platform = FinishingPlatform()
    platform.decline["m2"] = "Not that."
    await rig.runner.accept(platform, "m1", "c1|u1|Hi")
    await rig.runner.accept(platform, "m2", "c2|u1|Hi")
    await rig.settle()
    assert sorted(platform.finished_with) == [("m1", True), ("m2", True)]
    rig.model.gate = asyncio.Event()  # the model never answers in time
    await rig.runner.accept(platform, "m3", "c1|u1|Hi")
    await rig.runner.accept(platform, "m4", "c1|u1|waits behind m3")
    await until(lambda: len(rig.model.prompts) == 2)  # m3 (m2 was declined)
    await rig.runner.drain(grace=0)
    await rig.runner.accept(platform, "m5", "c1|u1|after the drain")
    assert platform.finished_with[2:] == [("m3", False), ("m4", False), ("m5", False)]
    assert rig.inbox.unanswered("memory") == ["m3", "m4", "m5"]


async def test_a_step_in_order_waits_for_the_turns_before_and_holds_those_after(rig: Rig) -> None:
    rig.model.gate = asyncio.Event()
    done: list[str] = []

    async def reset() -> None:
        await rig.conversations.reset(KEY)
        done.append("reset")

    await rig.runner.accept(rig.platform, "m1", "c1|u1|before")
    stepping = asyncio.create_task(rig.runner.in_order(KEY, reset))
    await asyncio.sleep(0)  # the step takes its place
    await rig.runner.accept(rig.platform, "m2", "c1|u1|after")
    await until(lambda: len(rig.model.prompts) == 1)
    assert not done
    rig.model.gate.set()
    await stepping
    await rig.settle()
    assert done == ["reset"]
    assert [m.content for m in rig.history.messages[KEY]] == ["after", "Hello there."]


async def test_a_message_over_the_rate_limit_is_refused_without_the_model() -> None:
    rig = Rig(quotas=Quotas(MemoryCounters(), Limits(messages_per_minute=1)))
    await rig.runner.accept(rig.platform, "m1", "c1|u1|one")
    await rig.runner.accept(rig.platform, "m2", "c1|u1|two")
    await rig.settle()
    assert rig.view("m1").steps("final") == ["Hello there."]
    assert rig.view("m2").steps("failure")[0].startswith("You're sending messages faster")
    assert len(rig.model.prompts) == 1


async def test_the_terminal_answers_without_the_inbox(rig: Rig) -> None:
    from core.types import Turn

    view = RecordingView(target="t")
    assert await rig.runner.answer(Turn(KEY, "u1", text="Hi"), view) == "t"
    assert view.steps("final") == ["Hello there."] and rig.inbox.rows == {}


async def test_a_final_text_refused_twice_is_shown_on_the_third_attempt(rig: Rig) -> None:
    rig.platform.views["m1"] = view = RecordingView(fail={"final": 2})
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await rig.settle()
    assert view.steps("final") == ["Hello there."]  # three attempts before the plain send
    assert view.steps("plain") == [] and view.fail["final"] == 0


async def test_drain_without_grace_cancels_at_once_and_keeps_the_message(rig: Rig) -> None:
    rig.model.gate = asyncio.Event()
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await until(lambda: bool(rig.model.prompts))
    await rig.runner.drain(grace=0)
    assert rig.runner.running == 0
    assert rig.inbox.unanswered("memory") == ["m1"]
    assert "m1" not in rig.platform.views or not rig.view("m1").steps("final")


class BrokenInbox(MemoryInbox):
    """Records, but cannot mark anything answered (the database went away)."""

    async def answered(self, platform: str, message_key: str) -> None:
        raise ConnectionError("database gone")


class Finished(MemoryPlatform):
    def __init__(self) -> None:
        super().__init__()
        self.done: list[tuple[str, bool]] = []

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        self.done.append((entry.message_key, answered))


async def test_a_message_not_marked_answered_is_reported_unanswered_to_its_platform() -> None:
    rig = Rig()
    platform, broken = Finished(), BrokenInbox()
    runner = TurnRunner(rig.conversations, broken, retry_backoff=0)
    await runner.accept(platform, "m1", "c1|u1|Hi")
    await until(lambda: bool(platform.done))
    assert platform.done == [("m1", False)]  # left in the inbox for the next start
    assert broken.unanswered("memory") == ["m1"]
    ok = Finished()
    await rig.runner.accept(ok, "m2", "c1|u1|Hi")
    await until(lambda: bool(ok.done))
    assert ok.done == [("m2", True)]


async def test_a_step_waits_for_its_own_conversation_only(rig: Rig) -> None:
    from core.types import Turn

    rig.model.gate = asyncio.Event()  # the terminal's answer in c1 waits
    done: list[str] = []

    async def step(name: str) -> None:
        done.append(name)

    terminal = asyncio.create_task(rig.runner.answer(Turn(KEY, "u1", text="Hi"), RecordingView()))
    await until(lambda: len(rig.model.prompts) == 1)
    behind = asyncio.create_task(rig.runner.in_order(KEY, lambda: step("c1")))
    elsewhere = asyncio.create_task(
        rig.runner.in_order(ConversationKey("memory", "c2"), lambda: step("c2"))
    )
    await elsewhere
    assert done == ["c2"]  # c1's step waits behind c1's answer
    rig.model.gate.set()
    await behind
    assert done == ["c2", "c1"] and terminal.done()
    assert await terminal == "answer-1"


async def test_drain_lets_an_answer_finish_within_its_grace(rig: Rig) -> None:
    rig.model.gate = asyncio.Event()
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    await until(lambda: bool(rig.model.prompts))
    draining = asyncio.create_task(rig.runner.drain(grace=0.9))
    await asyncio.sleep(0)  # the drain starts waiting for the answer in flight
    rig.model.gate.set()
    await draining
    assert rig.view("m1").steps("final") == ["Hello there."]
    assert rig.inbox.unanswered("memory") == []


async def test_each_message_is_answered_by_a_task_named_after_it(rig: Rig) -> None:
    rig.model.gate = asyncio.Event()
    await rig.runner.accept(rig.platform, "m1", "c1|u1|Hi")
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert "turn-memory-m1" in names
    rig.model.gate.set()
    await rig.settle()


async def test_the_terminal_hears_where_the_answer_went_or_none(rig: Rig) -> None:
    from core.types import Turn

    turn = Turn(KEY, "u1", text="Hi")
    assert await rig.runner.answer(turn, RecordingView(target=NO_VIDEO)) is None
    rig.model.fail_next = ServiceError("Busy.", detail="429")
    assert await rig.runner.answer(turn, RecordingView()) is None  # no answer was shown


class HeldFollowUp:
    """`Replies.follow` that never ends: a voice note being read when the process stops."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def follow(self, *args: object) -> None:
        self.asked.set()
        await asyncio.Event().wait()


async def test_an_answer_cut_during_its_follow_up_is_answered_and_not_replayed(rig: Rig) -> None:
    held, platform = HeldFollowUp(), Finished()
    runner = TurnRunner(rig.conversations, rig.inbox, replies=held)  # type: ignore[arg-type]
    await runner.accept(platform, "m1", "c1|u1|Hi")
    await held.asked.wait()
    await runner.drain(grace=0)  # the stop (or a crash) comes while the voice note is read
    assert rig.inbox.unanswered("memory") == []
    assert platform.done == [("m1", True)]  # its platform frees what the message held
    await rig.inbox.release()
    assert await TurnRunner(rig.conversations, rig.inbox).replay(platform) == 0
    assert platform.views["m1"].steps("final") == ["Hello there."]
