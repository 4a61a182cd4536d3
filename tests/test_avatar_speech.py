"""What D-ID is asked to say: speech-ready, capped, in a voice for the answer's language.

Through the wired core (as `avatarbot chat` wires it) against fake Groq and fake D-ID, which
records each `POST /talks` body as D-ID receives it.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from core.avatar.script import estimate_seconds, spoken_script
from core.types import AvatarJob, ConversationKey, Notice
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal

DATA = Path(__file__).resolve().parent / "data"
MARKDOWN = (
    "# Three tips\n\n"
    "1. **Sleep** well, see [the guide](https://example.com/sleep).\n"
    "2. Drink *water* 💧 every day.\n\n"
    "```python\nprint('hello')\n```\n\n"
    "More at https://example.com/more. 🚀"
)


def talks(did: FakeDID) -> list[dict[str, Any]]:
    return [r.json for r in did.calls("/talks", "POST") if isinstance(r.json, dict)]


async def test_the_avatar_says_a_speakable_script_not_the_markdown(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = MARKDOWN
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, _):
        await chat.handle("Any tips?")
        await screen.wait_for("avatar video ready")
    spoken = talks(did)[0]["script"]["input"]
    assert "Three tips." in spoken and "Sleep well, see the guide." in spoken
    assert "The code is in the chat." in spoken
    assert not re.search(r"[*#`\[\]]|https?:|💧|🚀|print", spoken)


async def test_a_long_answer_is_capped_and_its_video_says_the_rest_is_in_the_text(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = " ".join(f"Sentence number {n} says a little more." for n in range(400))
    settings = settings_for(tmp_path, groq, did, AVATAR_MAX_SECONDS="20", LLM_MAX_TOKENS="4000")
    async with terminal(settings) as (chat, screen, core):
        await chat.handle("Tell me everything.")
        await screen.wait_for("avatar video ready")
        stats = await core.conversations.stats()
    spoken = talks(did)[0]["script"]["input"]
    assert estimate_seconds(spoken) <= 20
    assert spoken.startswith("Sentence number 0 says a little more.")
    assert spoken.endswith("The rest is in the chat.")
    # The budget holds the script's estimate, not the whole answer's 18 minutes.
    reserved = float(re.search(r"videos of ([\d.]+) s", stats).group(1))  # type: ignore[union-attr]
    assert reserved == round(estimate_seconds(spoken), 1)
    assert "the rest of the answer is in the text above" in screen.text


async def test_a_spanish_voice_note_gets_a_spanish_voice(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.hear_next("es")
    groq.reply = "Hola, ¿qué tal? Hoy hace buen tiempo en Madrid."
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, _):
        await chat.handle(f"/voice {DATA / 'voice.ogg'}")
        await screen.wait_for("avatar video ready")
    provider = talks(did)[0]["script"]["provider"]
    assert provider["type"] == "microsoft"
    assert provider["voice_id"].startswith("es-")


async def test_a_text_answer_in_german_gets_a_german_voice_and_an_override_wins(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = (
        "Das Wetter in Berlin ist heute sonnig und warm, perfekt für einen langen "
        "Spaziergang im Park mit Freunden."
    )
    settings = settings_for(tmp_path, groq, did, DID_VOICES="de=de-DE-ConradNeural")
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("Wie ist das Wetter?")
        await screen.wait_for("avatar video ready")
        groq.reply = "Sure, here you go: the weather is sunny today in the whole country."
        await chat.handle("And in English?")
        await screen.wait_for("avatar video ready", count=2)
    voices = [talk["script"]["provider"]["voice_id"] for talk in talks(did)]
    assert voices == ["de-DE-ConradNeural", settings.DID_VOICE_ID]


async def test_a_short_answer_takes_the_language_of_its_question(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    # "Claro:" alone is too short for lingua, and the code tells nothing: English was said.
    groq.reply = (
        "Claro:\n\n```js\nconst fs = require('fs');\nconsole.log(fs.readFileSync('a.txt'));\n```"
    )
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, _):
        await chat.handle("¿Cómo leo un archivo de texto en JavaScript con Node?")
        await screen.wait_for("avatar video ready")
    script = talks(did)[0]["script"]
    assert script["provider"]["voice_id"] == "es-ES-ElviraNeural"
    assert script["input"] == "Claro: El código está en el chat."


LONG = " ".join(f"Point {n} matters for a reason worth explaining." for n in range(200))
SUMMARY = "In short: every point matters, and the details are in the chat."
SAYS_THE_START = "🎬 The video says the start: the rest of the answer is in the text above."
SUMS_UP = "🎬 The video sums up the answer: the whole of it is in the text above."


def answer_then(summary: str) -> Any:
    """Groq's reply: the long answer, and `summary` when asked for its spoken version."""

    def reply(messages: list[dict[str, Any]]) -> str:
        if "talking avatar will say out loud" in str(messages[0].get("content")):
            return summary
        return LONG

    return reply


async def test_summary_mode_says_the_models_spoken_version_after_the_text(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = answer_then(SUMMARY)
    settings = settings_for(
        tmp_path, groq, did, AVATAR_SCRIPT="summary", AVATAR_MAX_SECONDS="20", LLM_MAX_TOKENS="4000"
    )
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("Explain it all.")
        await screen.wait_for("avatar video ready")
    assert len(groq.chat_bodies) == 2  # the answer, then one call for its spoken version
    assert groq.chat_bodies[1]["stream"] is True
    spoken = talks(did)[0]["script"]["input"]
    assert spoken == SUMMARY
    assert "Point 199" in screen.text  # the whole answer was shown first
    assert SUMS_UP in screen.text and SAYS_THE_START not in screen.text


async def test_a_summarys_caption_outlives_a_restart_into_trim_mode(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = answer_then(SUMMARY)
    options = {"AVATAR_MAX_SECONDS": "20", "LLM_MAX_TOKENS": "4000"}
    summary_mode = settings_for(tmp_path, groq, did, AVATAR_SCRIPT="summary", **options)
    did.hold_renders = True
    async with terminal(summary_mode) as (chat, _, _):
        await chat.handle("Explain it all.")
        await did.wait_for(lambda: any(t.polls for t in did.talks.values() if t.held))
    did.release_all()  # rendered while no process runs; the next one, in trim mode, delivers
    async with terminal(settings_for(tmp_path, groq, did, **options)) as (_, screen, _):
        await screen.wait_for("avatar video ready")
    assert talks(did)[0]["script"]["input"] == SUMMARY
    assert SUMS_UP in screen.text and SAYS_THE_START not in screen.text


async def test_a_refused_summary_says_the_start_and_its_caption_says_so(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = answer_then("```\nprint('x')\n```")  # nothing to say aloud
    settings = settings_for(
        tmp_path, groq, did, AVATAR_SCRIPT="summary", AVATAR_MAX_SECONDS="20", LLM_MAX_TOKENS="4000"
    )
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("Explain it all.")
        await screen.wait_for("avatar video ready")
    assert len(groq.chat_bodies) == 2
    assert talks(did)[0]["script"]["input"].startswith("Point 0 matters")
    assert SAYS_THE_START in screen.text and SUMS_UP not in screen.text


async def test_a_short_answer_costs_no_summary_call(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    settings = settings_for(tmp_path, groq, did, AVATAR_SCRIPT="summary")
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("Hi")
        await screen.wait_for("avatar video ready")
    assert len(groq.chat_bodies) == 1


async def test_a_hundred_answers_at_once_never_exceed_the_days_videos(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    groq.reply = "A short answer of about two seconds."
    seconds = spoken_script(groq.reply, 45).seconds
    # Five videos' worth of whole seconds in total (the setting counts whole seconds).
    limit = int(5.5 * seconds)
    assert 5 * seconds <= limit < 6 * seconds
    settings = settings_for(tmp_path, groq, did, AVATAR_DAILY_SECONDS_TOTAL=str(limit))
    async with terminal(settings) as (_, _, core):
        jobs = await asyncio.gather(
            *(
                core.conversations.render_avatar(
                    ConversationKey("terminal", f"chat{n}"), groq.reply, "", f"user{n}"
                )
                for n in range(100)
            )
        )
        await did.wait_for(lambda: len(did.talks) == 5)
        stats = await core.conversations.stats()
    assert sum(isinstance(job, AvatarJob) for job in jobs) == 5
    refusals = [job for job in jobs if isinstance(job, Notice)]
    assert len(refusals) == 95 and all("left for today" in n.message for n in refusals)
    assert len(did.talks) == 5
    assert "5 videos" in stats
