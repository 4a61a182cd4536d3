"""Complete speakable sentences out of an answer that arrives in pieces (an LLM stream).

`SentenceStream` yields exactly the sentences that `sentences()` gives for the whole answer, in
the same order, each as soon as nothing that may still arrive can change it. It re-reads only
the text after the last blank line outside code (where a new block starts whatever follows),
and holds back what the next characters could still turn into something else: the last
sentence, a line that may become a table, a fence or a list marker, and inline code or a tag
that is not closed yet. `headings` tells which of the sentences given are headings (a clip's
cut drops one it would end on).
"""

from __future__ import annotations

import re

from core.avatar.inline import INLINE_MATH, mask_escapes, split_sentences
from core.avatar.markdown import Parsed, ParseState, parse, unquote
from core.avatar.phrases import Phrases, guess_language, normalise_language, phrases_for
from core.avatar.script import normalise_newlines

_MARKER_ONLY = re.compile(r"\s*(?:#{1,6}|[-*+•]|\d{1,9}[.)]?)\s*")
_RULE_LIKE = re.compile(r"\s*(?:(?:[-*_]\s*){2,}|=+)\s*")
_BACKTICKS = re.compile(r"`+")
_TRIGGERS = re.compile(r"[.!?…。！？।؟\n`>|]")
_WORD_END = re.compile(r"\S\s")
_BACKTICK_FENCE = re.compile(r"\s*```")
_TAG_START = re.compile(r"<(?=[A-Za-z/!])")
_MATH_OPEN = re.compile(r"\$\$|\\\[|\\\(|(?<![\\\w$])\$(?=[^\s$])")
_MATH_CLOSE = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|[。！？]")


class SentenceStream:
    """Feed the deltas of an answer; get back its sentences once they are complete."""

    def __init__(self, language: str | None = None) -> None:
        self._requested = normalise_language(language)
        self._language = self._requested
        self._text = ""  # the answer after the last point where a new block must start
        self._carry = ""  # a final "\r" that may be the first half of "\r\n"
        self._state = ParseState()
        self._given = 0  # sentences of `_text` already returned
        self._in_fence = False
        self._armed = False  # a mark arrived and no complete word after it yet
        self._after_mark = ""
        self.headings: set[str] = set()  # the heading sentences given (`flush` keeps them)

    def feed(self, delta: str) -> list[str]:
        """Add `delta` to the answer; return the sentences it completed."""
        text = self._carry + delta
        self._carry = "\r" if text.endswith("\r") else ""
        text = normalise_newlines(text[: len(text) - len(self._carry)])
        self._text += text
        # A sentence is released only by a mark (a full stop, a new line, a closing backtick)
        # and the first complete word after it; other deltas need no new look.
        trigger = _TRIGGERS.search(text[::-1])
        if trigger:
            self._after_mark = text[len(text) - trigger.start() :]
        elif self._armed:
            self._after_mark += text
        armed = self._armed or trigger is not None
        self._armed = armed and _WORD_END.search(self._after_mark) is None
        if not armed or (self._in_fence and "\n" not in text):
            return []  # inside an open code fence only a new line can change anything
        return self._advance(final=False)

    def flush(self) -> list[str]:
        """Return the sentences not returned yet, the answer being complete; start afresh."""
        self._text += normalise_newlines(self._carry)
        self._carry = ""
        out = self._advance(final=True)
        self._text, self._state, self._given, self._in_fence = "", ParseState(), 0, False
        self._armed = False
        self._language = self._requested
        return out

    def _advance(self, final: bool) -> list[str]:
        # Without a language the first sentence given fixes the one guessed from the script.
        language = self._language or guess_language(self._text)
        phrases = phrases_for(language)
        parsed = parse(self._text, phrases, self._state)
        self._in_fence = parsed.open_fence
        if final:
            return self._give(parsed, len(parsed.blocks), hold_last=False)
        out: list[str] = []
        if parsed.safe:
            out = self._give(parsed, parsed.safe_blocks, hold_last=False)
            self._text, self._state, self._given = self._text[parsed.safe :], parsed.safe_state, 0
        stable = self._stable(phrases)
        out += self._give(stable, len(stable.blocks), hold_last=True)
        if out:
            self._language = language
        return out

    def _stable(self, phrases: Phrases) -> Parsed:
        """Parse the longest start of the text that later deltas cannot reinterpret."""
        text = self._text
        end = _settled_lines_end(text)
        while True:
            parsed = parse(text[:end], phrases, self._state)
            if parsed.tail_start is None:
                return parsed
            unclosed = _first_unclosed(text[parsed.tail_start : end])
            if unclosed is None:
                return parsed
            cut = parsed.tail_start + unclosed
            line_start = text.rfind("\n", 0, cut) + 1
            if _BACKTICK_FENCE.match(unquote(text[line_start:cut])):
                cut = line_start  # cut short, "```x `y`" would read as a fence
            end = len(text[:cut].rstrip())

    def _give(self, parsed: Parsed, blocks: int, hold_last: bool) -> list[str]:
        """Return the sentences of the first `blocks` blocks not given yet (not the last one)."""
        found = [
            (sentence, block in parsed.headings)
            for block in parsed.blocks[:blocks]
            for sentence in split_sentences(block)
        ]
        new = found[self._given : len(found) - 1 if hold_last else len(found)]
        self._given += len(new)
        self.headings.update(sentence for sentence, heading in new if heading)
        return [sentence for sentence, _ in new]


def _settled_lines_end(text: str) -> int:
    """Return where the lines end that the next characters cannot turn into other blocks."""
    end = len(text)
    line_start = text.rfind("\n") + 1
    if _ambiguous(unquote(text[line_start:])):
        end = max(line_start - 1, 0)
        line_start = text.rfind("\n", 0, end) + 1
    else:
        end = _complete_words_end(text, line_start)
    while end and "|" in text[line_start:end]:  # may head a table: its next line decides
        end = max(line_start - 1, 0)
        line_start = text.rfind("\n", 0, end) + 1
    return end


def _ambiguous(line: str) -> bool:
    """Tell whether an unfinished last line may still change how the lines before it read."""
    stripped = line.strip()
    return (
        not stripped
        or stripped[0] in "`~"
        or "|" in stripped
        or set(stripped) <= set("|:- ")
        or _MARKER_ONLY.fullmatch(line) is not None
        or _RULE_LIKE.fullmatch(line) is not None
    )


def _complete_words_end(text: str, line_start: int) -> int:
    """Return where the complete words of the last line end (a URL or "&amp;" may grow).

    Chinese or Japanese text has no spaces: there the sentences up to its last full stop are
    complete whatever follows.
    """
    line = text[line_start:]
    space = max(line.rfind(" "), line.rfind("\t"))
    stop = max(line.rfind(mark) for mark in "。！？")
    if stop > space:
        return line_start + stop + 1
    # Cut before the whitespace too, so that the block the word was in still reads as open.
    return len(text[: line_start + max(space, 0)].rstrip())


def _first_unclosed(block: str) -> int | None:
    """Return where inline code, a tag or a formula opens without closing yet in `block`."""
    formula = _first_unclosed_formula(block)
    if formula is not None:
        return formula
    block = mask_escapes(block)
    runs = [(match.start(), len(match[0])) for match in _BACKTICKS.finditer(block)]
    index = 0
    while index < len(runs):
        start, length = runs[index]
        closing = next((i for i in range(index + 1, len(runs)) if runs[i][1] == length), None)
        if closing is None:
            return start
        index = closing + 1
    for match in _TAG_START.finditer(block):
        if ">" not in block[match.end() :]:
            return match.start()
    image = block.rfind("![")
    if image >= 0 and ")" not in block[image:]:
        return image  # an image is dropped, alt text and all, once its ")" comes
    return None


def _first_unclosed_formula(block: str) -> int | None:
    """Return where a formula opens that is not closed yet in `block`, if one does.

    A lone `$` may still open one ("$x" before its "$"), unless a sentence ends after it
    ("$5. Then"): an inline formula never holds a sentence end.
    """
    start = 0
    while (match := _MATH_OPEN.search(block, start)) is not None:
        if match[0] == "$":
            inline = INLINE_MATH.match(block, match.start())
            if inline is not None and inline.end() < len(block):
                start = inline.end()  # closed, and what follows cannot reopen it
            elif inline is None and _SENTENCE_END.search(block, match.end()):
                start = match.end()  # money, not a formula
            else:
                return match.start()
            continue
        closing = block.find(_MATH_CLOSE[match[0]], match.end())
        if closing < 0:
            return match.start()
        start = closing + len(_MATH_CLOSE[match[0]])
    return None
