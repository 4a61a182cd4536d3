"""Replies on in-memory fakes (no D-ID here): what follows an answer by the chat's reply mode,
and the lines that say why no voice answer can come, told once per conversation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core import replies
from core.avatar.speech import SpeechWriter
from core.conversation import Conversations
from core.prompts import ConversationSettings
from core.replies import NO_VIDEO_SERVICE, NO_VOICE, Replies, default_reply_mode
from core.types import ConversationKey, Notice
from core.usage import VOICE_ANSWERS
from core.voice_answers import NO_LANGUAGE, VoiceAnswers, VoiceLimits
from tests.fakes.memory import (
    MemoryCounters,
    MemoryHistory,
    MemoryPreferences,
    MemoryVoiceDelivery,
    ScriptedModel,
    ScriptedSpeaker,
)

KEY = ConversationKey("memory", "c1")
OTHER = ConversationKey("memory", "c2")
NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class Rig:
    def __init__(
        self, media: Path, *, voice: bool = True, limits: VoiceLimits | None = None
    ) -> None:
        self.mode: str | None = None
        self.preferences = MemoryPreferences()
        self.speaker, self.delivery = ScriptedSpeaker(), MemoryVoiceDelivery()
        self.counters = MemoryCounters()
        self.conversations = Conversations(
            settings=ConversationSettings(system_prompt="Be brief."),
            history=MemoryHistory(),
            preferences=self.preferences,
            model=ScriptedModel(),
            transcriber=None,
            jobs=None,
        )
        self.voice: VoiceAnswers | None = None
        if voice:
            writer = SpeechWriter(max_seconds=10)
            self.voice = VoiceAnswers(
                self.speaker, writer, self.counters, media, limits=limits, clock=lambda: NOON
            )
            self.voice.start({KEY.platform: self.delivery})
        self.replies = Replies(self.conversations, self.voice, self.reply_mode)

    async def reply_mode(self, key: ConversationKey) -> str | None:
        return self.mode

    async def follow(
        self, key: ConversationKey = KEY, text: str = "Hello there.", language: str | None = None
    ) -> object:
        return await self.replies.follow(key, text, "answer-1", "u1", language)


async def test_no_chat_has_chosen_by_default() -> None:
    assert await default_reply_mode(KEY) is None


@pytest.mark.parametrize(
    ("mode", "chosen", "notes"),
    [
        ("voice", None, 1),
        (None, "voice", 1),
        ("text", "voice", 0),
        (None, None, 0),  # no D-ID: text
        ("shout", None, 0),  # unknown: the chat's own, text here
        ("shout", "voice", 0),  # the chat's own is voice, but only a video would follow
    ],
    ids=["voice", "chats-own-voice", "text", "default", "unknown", "unknown-chat-voice"],
)
async def test_the_reply_mode_decides_whether_a_voice_note_follows(
    tmp_path: Path, mode: str | None, chosen: str | None, notes: int
) -> None:
    rig = Rig(tmp_path)
    rig.mode = mode
    if chosen is not None:
        await rig.preferences.set_reply_mode(KEY, "voice")
    assert await rig.follow() is None
    assert len(rig.delivery.notes) == notes
    if notes:
        assert rig.delivery.notes[0].target == "answer-1"
        assert rig.speaker.read == [("Hello there.", None)]
    voice_answers = await rig.counters.get("2026-12-01", "memory:u1", VOICE_ANSWERS)
    assert voice_answers == notes  # counted on the user


async def test_the_voice_note_is_in_the_language_heard(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.mode = "voice"
    assert await rig.follow(text="Marhaba.", language="ar") is None
    assert rig.speaker.read == [("Marhaba.", "ar")]


async def test_a_video_where_d_id_is_not_set_up_is_a_voice_note_that_says_why(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.mode = "video"
    assert await rig.follow(language="ar") is None
    (note,) = rig.delivery.notes
    assert (note.caption, note.target) == (NO_VIDEO_SERVICE, "answer-1")
    assert rig.speaker.read == [("Hello there.", "ar")]
    assert await rig.counters.get("2026-12-01", "memory:u1", VOICE_ANSWERS) == 1
    assert await rig.follow(ConversationKey("elsewhere", "c1")) is None  # no voice there
    assert len(rig.delivery.notes) == 1


async def test_a_video_where_neither_is_set_up_is_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, voice=False)
    rig.mode = "video"
    assert await rig.follow() is None


async def test_voice_answers_not_set_up_are_told_once_per_conversation(tmp_path: Path) -> None:
    rig = Rig(tmp_path, voice=False)
    rig.mode = "voice"
    told = [await rig.follow(key) for key in (KEY, KEY, OTHER, OTHER)]
    assert told == [Notice(NO_VOICE), None, Notice(NO_VOICE), None]


async def test_a_lasting_reason_is_told_once_and_a_passing_one_every_time(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, limits=VoiceLimits(per_user=0))
    rig.mode = "voice"
    spanish = [await rig.follow(text="Hola.", language="es") for _ in range(2)]
    assert spanish == [Notice(NO_LANGUAGE), None]
    refused = [await rig.follow() for _ in range(2)]
    assert isinstance(refused[0], Notice) and refused[0].message.startswith("No voice answer")
    assert refused[1] == refused[0]  # the limit's line, both times


async def test_what_was_told_is_forgotten_past_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replies, "MAX_TOLD", 5)  # the same arithmetic, 2,000 times faster
    rig = Rig(tmp_path, voice=False)
    rig.mode = "voice"
    assert await rig.follow(KEY) == Notice(NO_VOICE)
    for n in range(replies.MAX_TOLD - 1):
        await rig.follow(ConversationKey("memory", f"other-{n}"))
    assert await rig.follow(KEY) is None  # MAX_TOLD conversations remembered
    assert await rig.follow(OTHER) == Notice(NO_VOICE)  # one more: all forgotten first
    assert await rig.follow(KEY) == Notice(NO_VOICE)
