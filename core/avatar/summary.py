"""A short spoken version of a long answer, written by the chat model (`AVATAR_SCRIPT=summary`)."""

from __future__ import annotations

from core.ports import ChatModel
from core.types import ChatMessage

# What the model is asked for: speech, not text. The length is given in words because models
# keep to a word count far better than to seconds.
_INSTRUCTIONS = (
    "Rewrite the answer below as a short script that a talking avatar will say out loud. "
    "Use at most {words} words, in {language}. Plain spoken sentences only: no Markdown, no "
    "lists, no code, no URLs, no emoji. Keep the main point; say that the details are in the "
    "chat. Reply with the script alone."
)
# Speaking rate assumed for the word budget (~150 words a minute), with a margin for pauses.
WORDS_PER_SECOND = 2.5 * 0.9


async def summarize(
    model: ChatModel, answer: str, *, max_seconds: float, language: str | None
) -> str:
    """Stream a spoken summary of `answer` that fits in about `max_seconds` of speech."""
    words = max(10, int(max_seconds * WORDS_PER_SECOND))
    prompt = [
        ChatMessage("system", _INSTRUCTIONS.format(words=words, language=_name(language))),
        ChatMessage("user", answer),
    ]
    return "".join([piece async for piece in model.stream(prompt)]).strip()


def _name(language: str | None) -> str:
    """Name the language for the model: its ISO 639-1 code is enough for an LLM."""
    if not language:
        return "the same language as the answer"
    return f"the language with ISO 639-1 code '{language}'"
