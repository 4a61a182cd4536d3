"""The block structure of a Markdown answer, turned into blocks of speakable text.

A small line-by-line reader of the Markdown that LLMs write (CommonMark with GFM tables and
task lists), not a full CommonMark parser: it only has to decide, for every line, whether it is
read out, replaced by a pointer to the chat, or dropped. Lists, headings and quotes become plain
sentences; code, tables and display formulas become one pointer sentence each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.avatar.inline import clean_inline, is_display_math, with_full_stop
from core.avatar.phrases import Phrases

_QUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
_RULE = re.compile(r"^\s{0,3}(?:(?:[-*_]\s*){3,}|=+)\s*$")  # thematic break, setext underline
_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,9}[.)])\s+(.*)$")
_TASK = re.compile(r"^\[[ xX]\]\s+")
_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S")
_MATH_OPEN = re.compile(r"^\s*(\$\$|\\\[)")  # a LaTeX display formula: $$…$$ or \[…\]
_MATH_CLOSE = {"$$": "$$", "\\[": "\\]"}


@dataclass(frozen=True, slots=True)
class ParseState:
    """What a block depends on from the blocks before it."""

    in_list: bool = False  # an indented line after a blank line continues a list, not code
    previous: str = ""  # the last block, so that one pointer is not said twice in a row


@dataclass(frozen=True, slots=True)
class Parsed:
    """The speakable blocks of a text and where a reader of a growing text may resume."""

    blocks: tuple[str, ...]
    headings: frozenset[str]  # the blocks that are headings: they say nothing on their own
    state: ParseState
    open_fence: bool  # the text ends inside a code fence
    tail_start: int | None  # offset of the text block holding the last line, if it is text
    safe: int  # offset of the last line after a blank line outside code (0: none)
    safe_blocks: int  # how many blocks come before `safe`
    safe_state: ParseState


def unquote(line: str) -> str:
    """Return `line` without its block-quote markers."""
    return _QUOTE.sub("", line, count=1)


def parse(text: str, phrases: Phrases, state: ParseState | None = None) -> Parsed:
    """Split `text`, its lines separated by newlines, into speakable blocks."""
    return _Reader(text, phrases, state or ParseState()).run()


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _is_delimiter(line: str) -> bool:
    return "|" in line and _DELIMITER.match(line) is not None


class _Reader:
    def __init__(self, text: str, phrases: Phrases, state: ParseState) -> None:
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.phrases = phrases
        self.blocks: list[str] = []
        self.headings: list[str] = []
        self.in_list = state.in_list
        self.previous = state.previous
        self.pending: list[str] = []
        self.pending_quoted = False
        self.tail_start: int | None = None
        self.open_fence = False
        self.safe, self.safe_blocks, self.safe_state = 0, 0, state

    def run(self) -> Parsed:
        index, blank_before = 0, True
        while index < len(self.lines):
            line = unquote(self.lines[index])
            if line.strip():
                index = self.block(index, line, blank_before)
                blank_before = False
                continue
            self.close()
            self.tail_start = None
            index, blank_before = index + 1, True
            if index < len(self.lines):
                self.safe, self.safe_blocks = self.starts[index], len(self.blocks)
                self.safe_state = ParseState(self.in_list, self.previous)
        self.close()
        return Parsed(
            tuple(self.blocks),
            frozenset(self.headings),
            ParseState(self.in_list, self.previous),
            self.open_fence,
            self.tail_start,
            self.safe,
            self.safe_blocks,
            self.safe_state,
        )

    def block(self, index: int, line: str, blank_before: bool) -> int:
        """Read the block that starts at line `index`; return the index of the next line."""
        indent = _indent(line)
        fence = _FENCE.match(line)
        if fence and not (fence[1][0] == "`" and "`" in fence[2]):
            return self.fenced_code(index, fence[1], indent)
        math = _MATH_OPEN.match(line)
        if math:
            return self.display_math(index, line[math.end() :], _MATH_CLOSE[math[1]])
        if blank_before and indent >= 4 and not self.in_list and not _ITEM.match(line):
            return self.indented_code(index)
        if "|" in line and index + 1 < len(self.lines):
            if _is_delimiter(unquote(self.lines[index + 1])):
                return self.table(index)
        heading = _HEADING.match(line)
        if heading or _RULE.match(line) or _DEFINITION.match(line):
            self.close()
            self.tail_start = None
            if heading:
                if self.add(heading[1] or ""):
                    self.headings.append(self.blocks[-1])
                self.tail_start = self.starts[index]
            self.in_list = self.in_list and indent > 0
            return index + 1
        quoted = self.lines[index] != line
        item = _ITEM.match(line)
        if item or not self.pending or quoted != self.pending_quoted:
            self.close()
            self.tail_start, self.pending_quoted = self.starts[index], quoted
            self.in_list = item is not None or (self.in_list and indent > 0)
        text = _TASK.sub("", item[1]) if item else line.strip()
        self.pending.append(text)
        return index + 1

    def fenced_code(self, index: int, marker: str, indent: int) -> int:
        # Code is shown in the chat and never read: it would be spelled symbol by symbol.
        self.close()
        closing = re.compile(rf"^\s*{re.escape(marker[0])}{{{len(marker)},}}\s*$")
        end = index + 1
        while end < len(self.lines) and not closing.match(unquote(self.lines[end])):
            end += 1
        self.open_fence = end >= len(self.lines)
        self.pointer(self.phrases.code)
        self.in_list = self.in_list and indent > 0
        return end + 1

    def display_math(self, index: int, rest: str, closer: str) -> int:
        # A formula's lines may look like list items ("- 4ac") or headings: all of them, up to
        # the line with the closing mark (text after it on that line included), are the formula.
        self.close()
        end = index
        while end < len(self.lines) and closer not in (rest if end == index else self.lines[end]):
            end += 1
        self.pointer(self.phrases.formula)
        return end + 1

    def indented_code(self, index: int) -> int:
        self.close()
        end = index + 1
        while end < len(self.lines) and unquote(self.lines[end]).strip():
            if _indent(unquote(self.lines[end])) < 4:
                break
            end += 1
        self.pointer(self.phrases.code)
        return end

    def table(self, index: int) -> int:
        # A table is pointed to, not read: cells read row by row lose the column each value
        # belongs to ("Python, 3.11, yes") and a wide table costs many seconds of video.
        self.close()
        end = index + 2
        while end < len(self.lines) and "|" in self.lines[end] and self.lines[end].strip():
            end += 1
        self.pointer(self.phrases.table)
        return end

    def close(self) -> None:
        if self.pending:
            self.add(" ".join(self.pending))
            self.pending = []

    def add(self, text: str) -> bool:
        """Add the block of `text`; tell whether it says something of its own."""
        if is_display_math(text):
            self.pointer(self.phrases.formula)
            return False
        cleaned = clean_inline(text, self.phrases)
        if cleaned:
            self.blocks.append(with_full_stop(cleaned))
            self.previous = self.blocks[-1]
        return bool(cleaned)

    def pointer(self, phrase: str) -> None:
        self.tail_start = None
        if self.previous != phrase:
            self.blocks.append(phrase)
            self.previous = phrase
