"""VoiceAnswers driven directly on in-memory fakes: where a voice note goes, what it says, what
it counts against the daily limits (and gives back), and the one line when none comes."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from core.avatar.jobs import PermanentDeliveryError
from core.avatar.speech import SpeechWriter
from core.errors import ConfigurationError, ServiceError
from core.limits import EVERYONE, Charge
from core.types import AvatarJob, ConversationKey, JobState, Notice
from core.usage import VOICE_ANSWERS
from core.voice_answers import (
    CHECK_WORD,
    INSTEAD,
    NO_LANGUAGE,
    NOT_HERE,
    SAYS_THE_START,
    SUMS_UP,
    VoiceAnswers,
    VoiceLimits,
    note_path,
    note_prefix,
)
from tests.fakes.memory import (
    MemoryCounters,
    MemoryVoiceDelivery,
    ScriptedModel,
    ScriptedSpeaker,
)

KEY = ConversationKey("memory", "c1")
NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
DAY, MONTH = "2026-12-01", "2026-12-month"
MISCONFIGURED, DOWN = "My voice is misconfigured.", "My voice service is down."
LONG = " ".join(f"Sentence number {n} says a little more." for n in range(30))


class Rig:
    def __init__(
        self,
        media: Path,
        *,
        limits: VoiceLimits | None = None,
        now: dt.datetime = NOON,
        counters: MemoryCounters | None = None,
        writer: SpeechWriter | None = None,
    ) -> None:
        self.speaker, self.delivery = ScriptedSpeaker(), MemoryVoiceDelivery()
        self.counters = counters or MemoryCounters()
        self.voice = VoiceAnswers(
            self.speaker,
            writer or SpeechWriter(max_seconds=10),
            self.counters,
            media,
            limits=limits,
            clock=lambda: now,
        )
        self.voice.start({KEY.platform: self.delivery})

    async def counts(self, scope: str = "memory:u1") -> tuple[int, int, int]:
        """The user's day, everyone's day and the user's month."""
        return (
            await self.counters.get(DAY, scope, VOICE_ANSWERS),
            await self.counters.get(DAY, EVERYONE, VOICE_ANSWERS),
            await self.counters.get(MONTH, scope, VOICE_ANSWERS),
        )


class RefusingGiveBack(MemoryCounters):
    """Counters whose give-back (a negative charge) fails, as a database gone away would."""

    async def add_within(self, charges: list[Charge]) -> int | None:  # type: ignore[override]
        if any(charge.amount < 0 for charge in charges):
            raise ConnectionError("database gone")
        return await super().add_within(charges)


def job(voice_id: str | None, scope: str | None = "memory:u7") -> AvatarJob:
    return AvatarJob(
        1, KEY, "Hello there.", "answer-9", JobState.FAILED, voice_id=voice_id, reserved_scope=scope
    )


def test_a_conversations_notes_are_named_by_a_digest_of_it_alone() -> None:
    prefix = note_prefix(KEY)
    assert len(prefix) == 16 and int(prefix, 16) >= 0
    assert prefix == note_prefix(ConversationKey("memory", "c1"))
    topic, other = ConversationKey("memory", "c1", "7"), ConversationKey("memory", "c2")
    others = {note_prefix(topic), note_prefix(other)}
    assert len(others) == 2
    assert prefix not in others
    path = note_path(Path("/media"), KEY, "abc")
    assert path == Path("/media/voice") / f"{prefix}-abc.ogg"
    assert "c1" not in path.name


async def test_a_voice_answer_is_the_spoken_script_saved_sent_and_counted(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    sent = await rig.voice.answer(KEY, "u1", "**Hello** there.", "ar", "answer-1", "A note.")
    assert sent is None
    assert rig.speaker.read == [("Hello there.", "ar")]
    (note,) = rig.delivery.notes
    assert (note.key, note.target, note.caption) == (KEY, "answer-1", "A note.")
    assert note.seconds == len("Hello there.") / 15
    assert note.path.parent == tmp_path / "voice" and note.path.name.startswith(note_prefix(KEY))
    assert note.path.read_bytes() == b"OggSHello there."
    assert list(note.path.parent.iterdir()) == [note.path]  # no partial file left
    assert await rig.counts() == (1, 1, 1)


@pytest.mark.parametrize(
    ("note", "caption"),
    [(None, SAYS_THE_START), ("Why.", f"Why.\n{SAYS_THE_START}")],
    ids=["alone", "after-the-note"],
)
async def test_a_capped_script_says_the_rest_is_in_the_text(
    tmp_path: Path, note: str | None, caption: str
) -> None:
    rig = Rig(tmp_path)
    assert await rig.voice.answer(KEY, "u1", LONG, None, "answer-1", note) is None
    assert rig.delivery.notes[0].caption == caption


@pytest.mark.parametrize(
    ("summary", "caption"),
    [("In short: it works, and the details are in the chat.", SUMS_UP), ("", SAYS_THE_START)],
    ids=["summary", "summary-refused"],
)
async def test_a_voice_note_of_a_summary_says_it_sums_up(
    tmp_path: Path, summary: str, caption: str
) -> None:
    writer = SpeechWriter(max_seconds=10, mode="summary", model=ScriptedModel(summary))
    rig = Rig(tmp_path, writer=writer)
    assert await rig.voice.answer(KEY, "u1", LONG, "en", "answer-1") is None
    assert rig.delivery.notes[0].caption == caption
    said = summary or LONG.split(".")[0]
    assert rig.speaker.read[0][0].startswith(said)


async def test_nothing_to_read_sends_nothing_and_counts_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert await rig.voice.answer(KEY, "u1", "  \n ", None, "answer-1") is None
    assert (rig.speaker.read, rig.delivery.notes) == ([], [])
    assert await rig.counts() == (0, 0, 0)


async def test_only_platforms_whose_delivery_takes_voice_notes_get_them(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.voice.start({"memory": rig.delivery, "video-only": object()})
    assert rig.voice.available("memory") and not rig.voice.available("video-only")
    there = ConversationKey("video-only", "c1")
    assert await rig.voice.answer(there, "u1", "Hi.", None, "t") == Notice(NOT_HERE)
    assert await rig.voice.say(there, "s", "Hi.", None, "t") == Notice(NOT_HERE)
    elsewhere = AvatarJob(1, there, "Hi.", "t", JobState.FAILED)
    assert not await rig.voice.instead_of_video(elsewhere, "out of credits")
    assert rig.speaker.read == []


async def test_a_language_without_a_voice_gets_one_line_and_costs_nothing(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    assert await rig.voice.answer(KEY, "u1", "Hola.", "es", "t") == Notice(NO_LANGUAGE)
    assert rig.speaker.read == [] and await rig.counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("voice_id", "scope", "heard", "counted"),
    [
        ("AR-EG-SalmaNeural", "memory:u7", "ar", "memory:u7"),
        ("en-US-JennyNeural", None, "en", "memory:c1"),
        (None, "memory:u7", None, "memory:u7"),
    ],
    ids=["voice-language", "chat-scope", "default-voice"],
)
async def test_a_voice_answer_instead_of_a_video_speaks_the_jobs_script(
    tmp_path: Path, voice_id: str | None, scope: str | None, heard: str | None, counted: str
) -> None:
    rig = Rig(tmp_path)
    assert await rig.voice.instead_of_video(job(voice_id, scope), "out of credits")
    assert rig.speaker.read == [("Hello there.", heard)]
    (note,) = rig.delivery.notes
    assert (note.target, note.caption) == ("answer-9", INSTEAD)
    assert await rig.counts(counted) == (1, 1, 1)


async def test_no_voice_answer_instead_of_a_video_in_a_language_without_a_voice(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    assert not await rig.voice.instead_of_video(job("es-ES-ElviraNeural"), "out of credits")
    assert rig.delivery.notes == []


@pytest.mark.parametrize(
    ("now", "resets"),
    [
        (NOON, "12 h 0 min"),
        (NOON.replace(hour=11, minute=59, second=30), "12 h 1 min"),
        (NOON.replace(hour=23, minute=30, second=30), "30 min"),
        (NOON.replace(hour=23, minute=59, second=59), "1 min"),
        (NOON.replace(hour=0), "24 h 0 min"),
    ],
    ids=["noon", "half-a-minute-before-noon", "half-past-eleven", "last-second", "midnight"],
)
async def test_the_users_daily_limit_refuses_with_when_it_resets(
    tmp_path: Path, now: dt.datetime, resets: str
) -> None:
    rig = Rig(tmp_path, limits=VoiceLimits(per_user=2), now=now)
    for _ in range(2):
        assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") is None
    refusal = await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t")
    assert refusal == Notice(
        f"No voice answer this time: your 2 voice answers for today are used up; "
        f"they reset in {resets}."
    )
    assert len(rig.delivery.notes) == 2 and await rig.counts() == (2, 2, 2)


async def test_a_user_allowed_no_voice_answers_is_told_so(tmp_path: Path) -> None:
    rig = Rig(tmp_path, limits=VoiceLimits(per_user=0))
    assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") == Notice(
        "No voice answer this time: your 0 voice answers for today are used up; "
        "they reset in 12 h 0 min."
    )


async def test_everyones_daily_limit_refuses_the_next_user(tmp_path: Path) -> None:
    rig = Rig(tmp_path, limits=VoiceLimits(per_user=5, total=1))
    assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") is None
    assert await rig.voice.say(KEY, "memory:u2", "Hi.", None, "t") == Notice(
        "No voice answer this time: today's voice answers are all used; they reset in 12 h 0 min."
    )
    assert await rig.counts("memory:u2") == (0, 1, 0)


async def test_without_limits_every_answer_goes(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    for _ in range(3):
        assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") is None
    assert await rig.counts() == (3, 3, 3)


@pytest.mark.parametrize(
    ("error", "where", "line", "warned"),
    [
        (PermanentDeliveryError("the chat is gone"), "delivery", None, False),
        (ConfigurationError(MISCONFIGURED, detail="terms"), "speaker", MISCONFIGURED, True),
        (ServiceError(DOWN, detail="503"), "delivery", DOWN, False),
    ],
    ids=["chat-gone", "bad-settings", "service-down"],
)
async def test_a_voice_answer_that_fails_costs_nothing(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    where: str,
    line: str | None,
    warned: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="core.voice_answers")
    rig = Rig(tmp_path, limits=VoiceLimits(per_user=2, total=2))
    assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") is None
    if where == "speaker":
        rig.speaker.error = error
    else:
        rig.delivery.fail.append(error)
    notice = await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t")
    assert notice == (None if line is None else Notice(line))
    # A setting to fix is a warning for the operator; a service's bad moment is not.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert bool(warnings) is warned
    assert await rig.counts() == (1, 1, 1)  # the one sent still counts
    rig.speaker.error = None
    assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") is None  # the limit is free


async def test_a_crash_or_a_stop_while_sending_gives_the_answer_back_and_goes_on(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") is None
    rig.delivery.fail.append(RuntimeError("bug"))
    with pytest.raises(RuntimeError):
        await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t")
    assert await rig.counts() == (1, 1, 1)


async def test_a_give_back_that_fails_is_logged_and_the_line_still_comes(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, counters=RefusingGiveBack())
    rig.speaker.error = ServiceError("My voice service is down.", detail="503")
    assert await rig.voice.say(KEY, "memory:u1", "Hi.", None, "t") == Notice(
        "My voice service is down."
    )


async def test_the_check_reads_one_word_and_says_how_long_it_took(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert await rig.voice.check() == "text to speech answers (0.4 s of speech for one word)"
    assert rig.speaker.read == [(CHECK_WORD, None)]
    assert rig.delivery.notes == [] and await rig.counts() == (0, 0, 0)


async def test_each_voice_note_has_its_own_file_in_a_media_folder_made_for_it(
    tmp_path: Path,
) -> None:
    media = tmp_path / "not" / "there" / "yet"
    rig = Rig(media)
    for text in ("One.", "Two."):
        assert await rig.voice.say(KEY, "memory:u1", text, None, "t") is None
    first, second = (note.path for note in rig.delivery.notes)
    assert first != second and first.parent == second.parent == media / "voice"
    assert (first.read_bytes(), second.read_bytes()) == (b"OggSOne.", b"OggSTwo.")


async def test_before_the_platforms_start_no_voice_note_can_go(tmp_path: Path) -> None:
    voice = VoiceAnswers(ScriptedSpeaker(), SpeechWriter(), MemoryCounters(), tmp_path)
    assert not voice.available("memory")
    assert await voice.answer(KEY, "u1", "Hi.", None, "t") == Notice(NOT_HERE)
