"""Voice answers and reply modes, driven through the turn runner on in-memory fakes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.avatar.jobs import PermanentDeliveryError
from core.avatar.speech import SpeechWriter
from core.conversation import Conversations
from core.errors import ConfigurationError
from core.limits import EVERYONE
from core.prompts import ConversationSettings
from core.replies import NO_VIDEO_SERVICE, NO_VOICE, Replies
from core.turns import TurnRunner
from core.types import ConversationKey, Turn
from core.usage import VOICE_ANSWERS
from core.voice_answers import (
    INSTEAD,
    NO_LANGUAGE,
    SAYS_THE_START,
    VoiceAnswers,
    VoiceLimits,
    note_prefix,
)
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.memory import (
    MemoryCounters,
    MemoryHistory,
    MemoryInbox,
    MemoryPreferences,
    MemoryVoiceDelivery,
    RecordingView,
    ScriptedModel,
    ScriptedSpeaker,
)
from tests.harness import settings_for, terminal

KEY = ConversationKey("memory", "c1")
NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
DAY = "2026-12-01"


class Rig:
    """A turn runner whose answers may be followed by a voice note (no D-ID here)."""

    def __init__(
        self,
        tmp_path: Path,
        mode: str | None = None,
        *,
        voice: bool = True,
        limits: VoiceLimits | None = None,
        reply: str = "Hello there. Nice to meet you.",
    ) -> None:
        self.mode = mode
        self.counters, self.speaker = MemoryCounters(), ScriptedSpeaker()
        self.delivery, self.view = MemoryVoiceDelivery(), RecordingView()
        self.conversations = Conversations(
            settings=ConversationSettings(system_prompt="Be brief."),
            history=MemoryHistory(),
            preferences=MemoryPreferences(),
            model=ScriptedModel(reply),
            transcriber=None,
            jobs=None,
        )
        self.voice = None
        if voice:
            writer = SpeechWriter(max_seconds=10)
            self.voice = VoiceAnswers(
                self.speaker, writer, self.counters, tmp_path, limits=limits, clock=lambda: NOON
            )
            self.voice.start({KEY.platform: self.delivery})
        replies = Replies(self.conversations, self.voice, self.reply_mode)
        self.runner = TurnRunner(self.conversations, MemoryInbox(), replies=replies)

    async def reply_mode(self, key: ConversationKey) -> str | None:
        return self.mode

    async def ask(self, text: str = "Hi", user: str = "u1") -> None:
        await self.runner.answer(Turn(KEY, user, text=text), self.view)

    async def count(self, scope: str = "memory:u1") -> int:
        return await self.counters.get(DAY, scope, VOICE_ANSWERS)


async def test_voice_mode_sends_the_spoken_script_as_a_reply_to_the_answer(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, "voice", reply="**Hello** there. See https://example.com for more.")
    await rig.ask()
    assert rig.view.steps("final") == ["**Hello** there. See https://example.com for more."]
    (note,) = rig.delivery.notes
    assert (note.key, note.target, note.caption) == (KEY, "answer-1", None)
    assert rig.speaker.read == [("Hello there. See the link in the chat for more.", None)]
    assert note.path.read_bytes().startswith(b"OggS")
    assert note.path.parent == tmp_path / "voice"
    assert note.path.name.startswith(note_prefix(KEY))
    assert note.seconds > 0
    assert (await rig.count(), await rig.count(EVERYONE)) == (1, 1)
    assert rig.view.steps("notice") == []


@pytest.mark.parametrize("mode", ["text", None])
async def test_text_mode_and_the_default_without_d_id_send_nothing_more(
    tmp_path: Path, mode: str | None
) -> None:
    rig = Rig(tmp_path, mode)
    await rig.ask()
    assert rig.view.steps("final") == ["Hello there. Nice to meet you."]
    assert (rig.speaker.read, rig.delivery.notes, rig.view.steps("notice")) == ([], [], [])
    assert await rig.count() == 0


async def test_video_mode_without_d_id_sends_a_voice_answer_and_says_why(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "video")
    await rig.ask()
    (note,) = rig.delivery.notes
    assert note.caption == NO_VIDEO_SERVICE


async def test_voice_mode_without_tts_says_so_once_per_answer(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "voice", voice=False)
    await rig.ask()
    assert rig.view.steps("final") and rig.view.steps("notice") == [NO_VOICE]


async def test_a_long_answer_is_capped_and_its_caption_says_the_rest_is_above(
    tmp_path: Path,
) -> None:
    answer = " ".join(f"Sentence number {n} says a little more." for n in range(30))
    rig = Rig(tmp_path, "voice", reply=answer)
    await rig.ask()
    (note,) = rig.delivery.notes
    assert note.caption == SAYS_THE_START
    ((script, _),) = rig.speaker.read
    assert len(script) < len(answer) / 3 and script.endswith("The rest is in the chat.")


async def test_the_daily_limit_per_user_refuses_with_one_line_and_others_go_on(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, "voice", limits=VoiceLimits(per_user=1, total=2))
    await rig.ask(user="u1")
    await rig.ask(user="u1")
    (refusal,) = rig.view.steps("notice")
    assert refusal.startswith("No voice answer this time: your 1 voice answers for today")
    assert refusal.endswith("they reset in 12 h 0 min.")
    await rig.ask(user="u2")
    await rig.ask(user="u3")
    assert rig.view.steps("notice")[-1].startswith(
        "No voice answer this time: today's voice answers are all used"
    )
    assert len(rig.delivery.notes) == 2
    assert (await rig.count("memory:u1"), await rig.count(EVERYONE)) == (1, 2)


async def test_a_voice_answer_that_fails_says_so_and_costs_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "voice")
    rig.speaker.error = ConfigurationError("My voice service is misconfigured.", detail="terms")
    await rig.ask()
    assert rig.view.steps("final") and rig.view.steps("notice") == [
        "My voice service is misconfigured."
    ]
    assert await rig.count() == 0
    rig.speaker.error = None
    rig.delivery.fail.append(PermanentDeliveryError("the chat is gone"))
    await rig.ask()
    assert rig.view.steps("notice") == ["My voice service is misconfigured."]  # nothing more
    assert await rig.count() == 0


async def test_a_language_without_a_tts_voice_gets_the_text_and_one_line(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "voice", reply="Hola, ¿qué tal? Me alegro de verte hoy aquí.")
    assert rig.voice is not None
    notice = await rig.voice.answer(KEY, "u1", "Hola, ¿qué tal? Me alegro.", "es", "t1")
    assert notice is not None and notice.message == NO_LANGUAGE
    assert rig.speaker.read == [] and await rig.count() == 0


async def test_an_unknown_mode_is_the_default(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "shout")
    await rig.ask()
    assert rig.delivery.notes == [] and rig.view.steps("notice") == []


async def test_a_platform_without_voice_delivery_gets_no_voice(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "video")
    assert rig.voice is not None
    rig.voice.start({})  # no platform takes voice notes
    await rig.ask()
    assert rig.delivery.notes == [] and rig.view.steps("notice") == []


async def test_voice_notes_go_after_the_media_retention_only(tmp_path: Path) -> None:
    import datetime as dt

    from bot.storage import open_storage
    from core.retention import Pruned, Retention, RetentionPolicy
    from core.voice_answers import note_path

    media = tmp_path / "media"
    note = note_path(media, KEY, "0" * 32)
    note.parent.mkdir(parents=True)
    note.write_bytes(b"OggS")
    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.db'}")
    try:

        def after(days: float, media_days: float | None) -> Retention:
            policy = RetentionPolicy(inbox_days=None, media_days=media_days)
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
            return Retention(storage.retention, media, policy, clock=lambda: later)

        assert await after(10, None).run_once() == Pruned()
        assert await after(2, 3).run_once() == Pruned()
        assert note.exists()
        assert await after(4, 3).run_once() == Pruned(files=1)
        assert not note.exists()
    finally:
        await storage.close()


async def test_the_terminal_prints_where_the_voice_answer_was_saved(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    config = settings_for(tmp_path, groq, did, TTS_ENABLED=True, AVATAR_DAILY_LIMIT_PER_USER=0)
    async with terminal(config) as (chat, screen, _):
        await chat.handle("hello")
        await screen.wait_for("🔊 voice answer")
    line = next(line for line in screen.text.splitlines() if line.startswith("🔊 voice answer"))
    saved = Path(line.split(": ", 1)[1])
    assert saved.is_absolute() and saved.read_bytes()[28:36] == b"OpusHead"
    assert "🎬 No video this time: your 0 avatar videos for today are used up" in screen.text
    assert screen.text.rstrip().endswith(INSTEAD)


async def test_a_voice_answer_that_can_never_come_is_said_once_per_conversation(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, "voice", voice=False)
    await rig.ask()
    await rig.ask()
    assert len(rig.view.steps("final")) == 2 and rig.view.steps("notice") == [NO_VOICE]
    spanish = Rig(tmp_path, "voice", reply="Hola. Me alegro de verte.")
    assert spanish.voice is not None
    detected = SpeechWriter(max_seconds=10, detector=Always("es"))
    spanish.voice = VoiceAnswers(spanish.speaker, detected, spanish.counters, tmp_path)
    spanish.voice.start({KEY.platform: spanish.delivery})
    spanish.runner = TurnRunner(
        spanish.conversations,
        MemoryInbox(),
        replies=Replies(spanish.conversations, spanish.voice, spanish.reply_mode),
    )
    await spanish.ask()
    await spanish.ask()
    assert spanish.view.steps("notice") == [NO_LANGUAGE]
    assert spanish.speaker.read == []


class Always:
    """A language detector that always names one language."""

    def __init__(self, language: str) -> None:
        self.language = language

    async def detect(self, text: str) -> str | None:
        return self.language
