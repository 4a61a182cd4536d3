"""SpeechWriter: the avatar's script of an answer, its voice, and a summary when it is long."""

from __future__ import annotations

import pytest

from core.avatar.phrases import PHRASES
from core.avatar.script import spoken_script
from core.avatar.speech import IN_THREAD_CHARS, Speech, SpeechWriter, video_caption
from core.errors import UnavailableError
from core.types import AvatarJob, ConversationKey, JobState
from tests.fakes.memory import ScriptedModel

LONG = " ".join(f"Point {n} matters for a reason worth explaining." for n in range(60))
SHORT_SUMMARY = "In short: every point matters, and the details are in the chat."


class VoiceByLanguage:
    """Voices: a voice named after the language, so a test sees which language was asked."""

    def pick(self, language: str | None) -> str:
        return f"voice-{language}"


class FixedDetector:
    """Detector: names one language for every text, and records what it was asked."""

    def __init__(self, language: str | None) -> None:
        self.language = language
        self.asked: list[str] = []

    async def detect(self, text: str) -> str | None:
        self.asked.append(text)
        return self.language


async def test_a_short_answer_is_said_whole_in_the_default_voice() -> None:
    speech = await SpeechWriter().write("Hello there. How are you?")
    assert speech == Speech("Hello there. How are you?", 2.6, False, None, None)


async def test_the_language_heard_picks_the_voice_and_the_pointers() -> None:
    detector = FixedDetector("en")
    writer = SpeechWriter(voices=VoiceByLanguage(), detector=detector)
    speech = await writer.write("Mira esto:\n```\nx\n```", "es")
    assert speech == Speech(
        f"Mira esto: {PHRASES['es'].code}", speech.seconds, False, "voice-es", "es"
    )
    assert detector.asked == []  # the language Whisper heard is not guessed again


async def test_without_a_heard_language_the_detector_names_it() -> None:
    detector = FixedDetector("de")
    writer = SpeechWriter(voices=VoiceByLanguage(), detector=detector)
    speech = await writer.write("Hier ist der Code:\n```\nx\n```")
    assert (speech.text, speech.voice_id, speech.language) == (
        f"Hier ist der Code: {PHRASES['de'].code}",
        "voice-de",
        "de",
    )
    assert detector.asked == ["Hier ist der Code:\n "]  # the prose: code tells no language


@pytest.mark.parametrize("length", [IN_THREAD_CHARS - 1, IN_THREAD_CHARS, 3 * IN_THREAD_CHARS])
async def test_the_script_is_capped_at_max_seconds_on_or_off_the_loop(length: int) -> None:
    answer = ("Word " * length)[:length]
    speech = await SpeechWriter(max_seconds=10.0).write(answer, "en")
    script = spoken_script(answer, 10.0, "en")
    assert speech == Speech(script.text, script.seconds, script.truncated, None, "en")
    assert speech.truncated and speech.seconds <= 10.0


async def test_summary_mode_says_the_models_short_version() -> None:
    model = ScriptedModel(SHORT_SUMMARY)
    writer = SpeechWriter(max_seconds=20.0, mode="summary", model=model, voices=VoiceByLanguage())
    speech = await writer.write(LONG, "en")
    summary = spoken_script(SHORT_SUMMARY, 20.0, "en")
    assert speech == Speech(SHORT_SUMMARY, summary.seconds, True, "voice-en", "en", "summary")
    (system, user), *_ = model.prompts
    assert user.content == LONG
    assert "at most 45 words, in the language with ISO 639-1 code 'en'" in system.content


async def test_a_summary_too_long_is_capped_like_any_script() -> None:
    wordy = " ".join(f"In short, part {n} counts." for n in range(40))
    model = ScriptedModel(wordy)
    speech = await SpeechWriter(max_seconds=8.0, mode="summary", model=model).write(LONG, "en")
    capped = spoken_script(wordy, 8.0, "en")
    assert capped.text.startswith("In short, part 0 counts.")
    assert (speech.text, speech.seconds, speech.truncated) == (capped.text, capped.seconds, True)


async def test_a_summary_is_cleaned_in_the_answers_language() -> None:
    model = ScriptedModel("Kurz gesagt:\n```\nx\n```")
    writer = SpeechWriter(max_seconds=20.0, mode="summary", model=model)
    speech = await writer.write(LONG, "de")
    assert speech.text == f"Kurz gesagt: {PHRASES['de'].code}"


async def test_trim_mode_or_a_short_answer_asks_the_model_nothing() -> None:
    model = ScriptedModel(SHORT_SUMMARY)
    trim = await SpeechWriter(max_seconds=20.0, mode="trim", model=model).write(LONG, "en")
    assert trim.truncated and trim.text.endswith(PHRASES["en"].rest)
    assert trim.kind == "start"
    summary = SpeechWriter(max_seconds=20.0, mode="summary", model=model)
    short = await summary.write("Hello there.", "en")
    assert (short.text, short.truncated) == ("Hello there.", False)
    assert model.prompts == []


@pytest.mark.parametrize("reply", ["", "  \n "], ids=["empty", "blank"])
async def test_a_summary_with_nothing_to_say_falls_back_to_the_start(reply: str) -> None:
    model = ScriptedModel(reply)
    speech = await SpeechWriter(max_seconds=20.0, mode="summary", model=model).write(LONG, "en")
    trimmed = spoken_script(LONG, 20.0, "en")
    assert (speech.text, speech.seconds, speech.truncated) == (trimmed.text, trimmed.seconds, True)
    assert speech.kind == "start"
    assert len(model.prompts) == 1


class DetectorByWord:
    """Detector: names the language of the first of its words a text contains, else None."""

    def __init__(self, words: dict[str, str]) -> None:
        self.words = words

    async def detect(self, text: str) -> str | None:
        return next((code for word, code in self.words.items() if word in text), None)


@pytest.mark.parametrize(
    ("summary", "heard"),
    [
        ("In short: every point matters, and the details are in the chat.", "de"),
        ("Короче говоря, каждый пункт важен.", "en"),  # too short to detect: its script tells
        ("```python\nprint('x')\n```\nhttps://example.com 🎉", "en"),
        ("The rest is in the chat.", "en"),
    ],
    ids=["english-for-german", "russian-for-english", "only-code-and-link", "only-a-pointer"],
)
async def test_a_summary_in_another_language_or_with_nothing_to_say_is_not_used(
    summary: str, heard: str
) -> None:
    model = ScriptedModel(summary)
    detector = DetectorByWord({"every point": "en"})
    writer = SpeechWriter(max_seconds=20.0, mode="summary", model=model, detector=detector)
    speech = await writer.write(LONG, heard)
    trimmed = spoken_script(LONG, 20.0, heard)
    assert (speech.text, speech.seconds, speech.truncated) == (trimmed.text, trimmed.seconds, True)
    assert speech.kind == "start"
    assert len(model.prompts) == 1


async def test_a_summary_in_the_answers_language_is_used() -> None:
    model = ScriptedModel(SHORT_SUMMARY)
    writer = SpeechWriter(
        max_seconds=20.0, mode="summary", model=model, detector=DetectorByWord({"every": "en"})
    )
    speech = await writer.write(LONG, "en-US")
    assert speech.text == SHORT_SUMMARY


async def test_a_failed_summary_falls_back_to_the_start() -> None:
    model = ScriptedModel(SHORT_SUMMARY)
    model.fail_next = UnavailableError("The model is busy.")
    speech = await SpeechWriter(max_seconds=20.0, mode="summary", model=model).write(LONG, "en")
    assert speech.text == spoken_script(LONG, 20.0, "en").text
    assert speech.kind == "start"


def test_the_caption_says_the_rest_is_above_only_when_cut() -> None:
    key = ConversationKey("memory", "1")
    job = AvatarJob(1, key, "text", "target", JobState.QUEUED)
    assert video_caption(job) is None
    cut = video_caption(AvatarJob(1, key, "text", "target", JobState.QUEUED, truncated=True))
    assert cut == "🎬 The video says the start: the rest of the answer is in the text above."


def test_the_caption_of_a_summary_says_it_sums_up() -> None:
    key = ConversationKey("memory", "1")
    summed = AvatarJob(1, key, "text", "", JobState.QUEUED, truncated=True, script_kind="summary")
    assert video_caption(summed) == (
        "🎬 The video sums up the answer: the whole of it is in the text above."
    )
