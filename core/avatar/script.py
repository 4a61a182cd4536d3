"""What the avatar says for an answer: speakable text, capped at a number of seconds of speech.

The avatar's text-to-speech reads `script.input` literally, and D-ID bills by the length of the
video, so an answer is cleaned (no Markdown, code, URLs, tables, HTML or emoji: see
markdown.py and inline.py) and cut at a sentence end to fit a cap.

How long speech lasts is estimated from the text alone, deliberately on the slow side, because
an estimate that is too short lets a video run past its cap:

- Space-separated scripts (Latin, Cyrillic, Greek, Arabic, Devanagari, Hangul words...): 150
  words per minute (2.5 words/s), the usual figure for English read aloud (the National Center
  for Voice and Speech's average for conversation; audiobook narration aims at 150-160 wpm).
  A word of more than 6 letters counts as letters/6 words, so long compounds (German, Finnish)
  are not read as one short word. Each digit counts as a word ("2024" is "twenty twenty-four"),
  and so does each symbol the voice reads as a word ("%", "$", "+", "=", "/", "°"...).
- Chinese and Japanese are written without spaces: 5 characters/s. Mandarin is spoken at
  about 5.2 syllables (one character each) per second (Pellegrino, Coupé & Marsico 2011,
  "A cross-language perspective on speech information rate", Language 87(3)); Japanese at about
  7.8 morae/s in the same study, and a kanji often carries two morae, which matches the
  300 characters a minute commonly quoted for Japanese broadcast reading.
- Korean: 4 Hangul syllable blocks/s, at the slow end of measured Korean speaking rates (given
  in syllables per second, e.g. Lee et al. 2017, Phonetics and Speech Sciences 9(1)).
- Thai, Lao, Khmer and Myanmar (no spaces between words): 10 letters/s, combining vowel and
  tone marks not counted; a rough figure (about two or three letters per syllable).
- 0.3 s of pause after every sentence end.
- Symbols are read as words ("&" is "and", "%" "percent", "+" "plus", "$" "dollars"): each
  counts as a word, and a dash standing alone ("—") as a pause, so a script of symbols is not
  estimated at nothing and let past the cap.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from core.avatar.inline import is_cjk, split_sentences, with_full_stop
from core.avatar.markdown import parse
from core.avatar.phrases import (
    Phrases,
    guess_language,
    normalise_language,
    phrases_for,
    pointers,
)

WORDS_PER_SECOND = 2.5
LETTERS_PER_WORD = 6
CJK_CHARACTERS_PER_SECOND = 5.0
HANGUL_SYLLABLES_PER_SECOND = 4.0
SOUTHEAST_ASIAN_LETTERS_PER_SECOND = 10.0
SENTENCE_PAUSE_SECONDS = 0.3

_SENTENCE_END = re.compile(r"[.!?…।؟]+[\"'”’»)\]」』）]*(?=\s|$)|[。！？]+")
_CLAUSE_END = re.compile(r"[,;:，、；：](?=\s|$)|[，、；：]|\s[—–-](?=\s)")
_NOT_SPOKEN = re.compile(r"(?s)(`{3,}|~{3,}).*?(?:\1|$)|`[^`\n]*`|\S+://\S+")
_CUT_TRIM = " ,;:，、；：—–-"
# Said as a word ("percent", "plus", "equals"...), as is every other symbol (Unicode S*).
_SAID_SYMBOLS = frozenset("%‰$€£¥₽₹₩₺¢&+=×÷/°@<>≥≤≠±≈§^²³#*\\¶")


@dataclass(frozen=True, slots=True)
class SpokenScript:
    """The avatar's script: its text, estimated seconds of speech, and whether it was cut."""

    text: str
    seconds: float
    truncated: bool


def prose(answer: str) -> str:
    """Return `answer` without its code and URLs: the words that tell its language."""
    return _NOT_SPOKEN.sub(" ", answer)


def resolve_phrases(text: str, language: str | None) -> Phrases:
    """Return the pointer phrases for `language`, guessed from the script of `text` if None."""
    code = normalise_language(language)
    return phrases_for(code or guess_language(prose(text)))


def normalise_newlines(text: str) -> str:
    """Return `text` with Windows and old Mac line ends as plain newlines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sentences_of(answer: str, phrases: Phrases) -> list[str]:
    """Return the speakable sentences of an answer, in order."""
    return _sentences_and_headings(answer, phrases)[0]


def _sentences_and_headings(answer: str, phrases: Phrases) -> tuple[list[str], set[str]]:
    parsed = parse(normalise_newlines(answer), phrases)
    said = [sentence for block in parsed.blocks for sentence in split_sentences(block)]
    return said, {sentence for block in parsed.headings for sentence in split_sentences(block)}


def sentences(answer: str, language: str | None = None) -> list[str]:
    """Return the speakable sentences of an answer (what `SentenceStream` yields for it)."""
    return sentences_of(answer, resolve_phrases(answer, language))


def says_something(answer: str, language: str | None) -> bool:
    """Tell whether `answer` has words to read aloud besides pointers to the chat."""
    phrases = resolve_phrases(answer, language)
    spoken = " ".join(sentences_of(answer, phrases))
    for phrase in pointers(phrases):
        spoken = spoken.replace(phrase, " ")
    return any(char.isalnum() for char in spoken)


def join_sentences(parts: list[str]) -> str:
    """Join sentences with spaces, except between sentences of Chinese or Japanese."""
    text = ""
    for part in parts:
        glue = "" if not text or (text[-1] in "。！？" and is_cjk(part[0])) else " "
        text += glue + part
    return text


def speakable(answer: str, language: str | None = None) -> str:
    """Return the answer as plain text to read aloud: no markup, code, URLs, tables or emoji.

    Code, tables and links are replaced by short phrases pointing to the chat, in the answer's
    language (an ISO 639-1 code; guessed from the script when None, English by default).
    """
    return join_sentences(sentences(answer, language))


def estimate_seconds(text: str) -> float:
    """Estimate how long reading `text` aloud takes, in seconds (see the module docstring)."""
    seconds = SENTENCE_PAUSE_SECONDS * len(_SENTENCE_END.findall(text))
    for token in text.split():
        letters = said = 0  # said: digits and symbols, a word each
        spoken = seconds
        for char in token:
            if is_cjk(char):
                seconds += 1 / CJK_CHARACTERS_PER_SECOND
            elif "\uac00" <= char <= "\ud7a3":
                seconds += 1 / HANGUL_SYLLABLES_PER_SECOND
            elif _southeast_asian(char):
                if unicodedata.category(char) != "Mn":
                    seconds += 1 / SOUTHEAST_ASIAN_LETTERS_PER_SECOND
            elif char.isdigit() or char in _SAID_SYMBOLS or unicodedata.category(char)[0] == "S":
                said += 1
            elif char.isalpha():
                letters += 1
        if letters:
            seconds += max(1.0, letters / LETTERS_PER_WORD) / WORDS_PER_SECOND
        seconds += said / WORDS_PER_SECOND
        if seconds == spoken and any(unicodedata.category(c) == "Pd" for c in token):
            seconds += SENTENCE_PAUSE_SECONDS  # a dash alone: a pause
    return round(seconds, 3)


def _southeast_asian(char: str) -> bool:
    return (
        "\u0e00" <= char <= "\u0eff"
        or "\u1000" <= char <= "\u109f"
        or ("\u1780" <= char <= "\u17ff")
    )


def spoken_script(answer: str, max_seconds: float, language: str | None = None) -> SpokenScript:
    """Return what the avatar says for `answer`, at most `max_seconds` of estimated speech.

    A long answer is cut at a sentence end (inside the first sentence at a clause or word
    boundary if that one alone is too long) and ends with "The rest is in the chat." in the
    answer's language, counted within the cap. An answer with nothing to read aloud (only code
    or emoji) gives a pointer to the chat; an empty answer gives an empty script. When
    `max_seconds` is shorter than the rest phrase itself, the script is that phrase alone.
    """
    if not answer.strip():
        return SpokenScript("", 0.0, False)
    phrases = resolve_phrases(answer, language)
    parts, headings = _sentences_and_headings(answer, phrases)
    parts = parts or [phrases.answer]
    text = join_sentences(parts)
    seconds = estimate_seconds(text)
    if seconds <= max_seconds:
        return SpokenScript(text, seconds, False)
    return _shortened(parts, max_seconds, phrases.rest, headings)


def _shortened(parts: list[str], max_seconds: float, rest: str, headings: set[str]) -> SpokenScript:
    budget = max_seconds - estimate_seconds(rest)
    kept: list[str] = []
    used = 0.0
    for part in parts:
        used += estimate_seconds(part)
        if used > budget:
            break
        kept.append(part)
    _drop_headings(kept, headings)
    if not kept:
        text = next((part for part in parts if part not in headings), parts[0])
        first = _cut_sentence(text, budget)
        kept = [first] if first else []
    text = join_sentences([*kept, rest])
    while kept and estimate_seconds(text) > max_seconds:  # rounding of the per-part sums
        kept.pop()
        _drop_headings(kept, headings)
        text = join_sentences([*kept, rest])
    return SpokenScript(text, estimate_seconds(text), True)


def _drop_headings(kept: list[str], headings: set[str]) -> None:
    """Take the headings off the end of `kept`: a heading without its text says nothing."""
    while kept and kept[-1] in headings:
        kept.pop()


def _cut_sentence(sentence: str, budget: float) -> str:
    """Return the longest start of `sentence` that fits `budget`, ending with a full stop.

    A clause boundary is preferred unless it keeps less than half of what a word boundary
    keeps; text without spaces (Chinese, Japanese) is cut between characters.
    """

    def piece(end: int) -> str:
        start = sentence[:end].rstrip(_CUT_TRIM)
        return with_full_stop(start) if start else ""

    def fits(end: int) -> bool:
        text = piece(end)
        return bool(text) and estimate_seconds(text) <= budget

    clauses = [match.start() + 1 for match in _CLAUSE_END.finditer(sentence)]
    words = [match.start() for match in re.finditer(r"\s", sentence)]
    clause = _last_fitting(clauses, fits)
    word = _last_fitting(words, fits)
    if clause is not None and (word is None or clause * 2 >= word):
        return piece(clause)
    if word is not None:
        return piece(word)
    character = _last_fitting(list(range(1, len(sentence))), fits)
    return piece(character) if character is not None else ""


def _last_fitting(ends: list[int], fits: Callable[[int], bool]) -> int | None:
    """Return the largest of the sorted `ends` that `fits`, by bisection (fit is monotone)."""
    low, high, best = 0, len(ends) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(ends[middle]):
            best, low = ends[middle], middle + 1
        else:
            high = middle - 1
    return best
