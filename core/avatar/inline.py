"""Inline Markdown, HTML, URLs and emoji turned into plain words, and plain text into sentences.

Everything here works on one block (a paragraph, a heading, a list item) whose lines are already
joined with spaces. Each rule is local (it looks only at its own characters), so that cleaning a
growing prefix of a block gives the same sentences as cleaning the whole block, up to the last
one; `SentenceStream` relies on that.
"""

from __future__ import annotations

import html
import re

from core.avatar.phrases import Phrases

# An escaped ASCII punctuation character is kept aside in the private use area while markup is
# removed, so `\*` never starts emphasis; it is put back before the symbols are cleaned.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ESCAPED = re.compile("[\U000f0021-\U000f007e]")
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
# LaTeX, as LLMs write formulas: display math ($$…$$, \[…\]) and inline math (\(…\), and $…$
# as Pandoc reads it: no space inside either dollar, the closing one not before a digit, so
# "from $5 to $10" stays money; and no sentence end inside, so "$5. Then" is no formula).
_DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]", re.S)
INLINE_MATH = re.compile(
    r"(?<![\\\w$])\$(?=[^\s$])((?:[^$.!?…。！？]|[.!?](?!\s)){1,200}?)(?<=[^\s\\$])\$(?![\w$])"
    r"|\\\((.+?)\\\)"
)
_MATH_SIGNS = re.compile(r"[\\^_{}=+<>]")  # what makes "$…$" a formula and not two prices
_LATEX = re.compile(r"[\\^_{}]")  # what a formula cannot be read aloud with
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_IDENTIFIER = re.compile(r"(?!-)([\w.\-]{1,32})(?<![.\-])(?:\(\))?")  # "print()" is print
_DESTINATION = r"\(\s*(?:<[^>]*>|(?:[^()\s]|\([^()\s]*\))*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
_IMAGE = re.compile(r"!\[[^\[\]]*\](?:" + _DESTINATION + r"|\[[^\[\]]*\])")
_LINK = re.compile(r"\[([^\[\]]*)\]" + _DESTINATION)
_REFERENCE_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]")
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]")
_CITATION = re.compile(r"\s?\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\](?![(\[:])")  # "[1]", "[2, 3]"
_AUTOLINK = re.compile(r"<((?:[A-Za-z][A-Za-z0-9+.-]{1,31}:|www\.)[^<>\s]*)>")
_EMAIL_AUTOLINK = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_URL = re.compile(r"(?:(?:https?|ftps?|wss?|s?ftp|ssh|git|file)://|\bwww\.|\bmailto:)[^\s<>\"]+")
_LOOKS_LIKE_URL = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]{1,15}://|www\.|mailto:)\S*\s*")
_TIMES = re.compile(r"(?<=\d)\s*\*\s*(?=\d)")
# An exponent outside a formula: "m^2" is "m²" (read "squared"); "2^10" keeps its caret, as
# dropping it would read "210".
_POWER = re.compile(r"(?<=\w)\^([23])(?!\d)")
_ARROW = re.compile(r"\s*(?:<-{1,2}>|<?-{1,2}>|<-{1,2}|<?={1,2}>|[→⇒⟶←↔⇔⟵⟹])\s*")
# A dash is a pause: read as a comma. Microsoft's voices have been seen to stop at an em dash
# (learn.microsoft.com/en-us/answers/questions/5869511, with arrows, handled above).
_DASH = re.compile(r"\s*—\s*|\s+–\s+")
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")
_PICTOGRAPH = (
    "\u2190-\u21ff\u2300-\u23ff\u25a0-\u25ff\u2600-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_TAIL = "\ufe00-\ufe0f\u20e3\U000e0020-\U000e007f\U000e0100-\U000e01ef"
_EMOJI = re.compile(f"[{_PICTOGRAPH}](?:[{_EMOJI_TAIL}]|\u200d[{_PICTOGRAPH}]?)*|[{_EMOJI_TAIL}]")
# Emoticons are emoji in ASCII: ":)" is read "colon parenthesis" and "<3" as "three".
_EMOTICON = re.compile(r"(?<![\w:;=<>^])(?:[:;=][-o^']?[()\[\]DPpO3/|*]|<3+|[xX]D|\^_*\^)(?![\w(])")
# Format characters are silent; ZWNJ and ZWJ (U+200C, U+200D) stay: Indic scripts need them.
_INVISIBLE = re.compile("[\u00ad\u200b\u200e\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069]")
_SHARP = re.compile(r"(?<!\b[A-Z])#|#(?=[\w#])")  # keeps "C#" and "F#", drops the rest
_SYMBOL = re.compile(r"[*`~\[\]{}]|(?<!\w)\^|\^(?!\d)|(?<! )[<>]|[<>](?![ =])")  # " >= " stays
_SPACED = re.compile(r"[_|\\]")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;:]?\s*\)")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?…。，、！？)\]])(?![\w=])")  # not before ".env", "!="
_SPACE_AFTER = re.compile(r"([(\[¿¡])\s+")
# A quotation opens at the start or after a space or bracket, and closes before a non-word.
_QUOTED = re.compile(r'(?:^|(?<=[\s(\[]))("\s*[^"]*?\s*"|“\s*[^“”]*?\s*”|„\s*[^„“]*?\s*“)(?!\w)')
_COMMA_BEFORE = re.compile(r",(\s*[,.;:!?…])")

# A sentence ends after one of these when followed by a space and no lower-case letter, or at
# the end of the block; the CJK marks end one wherever they are.
_TERMINATOR = re.compile(r"([.!?…।؟]+|[。！？]+)([\"'”’»)\]」』）]*)")
_CJK_STOPS = "。！？"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr sra jr st vs cf fig approx ca bzw nr vol e.g i.e z.b d.h u.a p.ej "
    "al".split()
)
_END_MARKS = ".!?…。！？।؟:"
_CLOSERS = "\"'”’»)]」』）"


def clean_inline(text: str, phrases: Phrases) -> str:
    """Return the words of one block with markup, links, code, tags and emoji removed."""
    text = _DISPLAY_MATH.sub(f" {phrases.formula_inline} ", text)  # before escapes: "\\["
    text = INLINE_MATH.sub(lambda match: _math(match, phrases), text)
    text = _ESCAPE.sub(lambda match: chr(0xF0000 + ord(match[1])), text)
    text = _COMMENT.sub(" ", text)
    text = _CODE_SPAN.sub(lambda match: _code_span(match[2], phrases), text)
    text = _AUTOLINK.sub(f" {phrases.link} ", text)
    text = _EMAIL_AUTOLINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)  # before links: "<[a](u)" must not become the tag "<a"
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(lambda match: _link_text(match[1], phrases), text)
    text = _REFERENCE_LINK.sub(r"\1", text)
    text = _FOOTNOTE.sub("", text)
    text = _CITATION.sub("", text)
    text = html.unescape(text)
    text = _URL.sub(lambda match: _bare_url(match[0], phrases), text)
    text = _ARROW.sub(", ", text)
    text = _DASH.sub(_pause, text)
    text = _KEYCAP.sub("", text)
    text = _EMOJI.sub("", text)
    text = _EMOTICON.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _ESCAPED.sub(lambda match: chr(ord(match[0]) - 0xF0000), text)
    return _tidy(text)


def _pause(match: re.Match[str]) -> str:
    before = match.string[: match.start()].rstrip()[-1:]
    return " " if not before or before in ".!?…:;,(" else ", "  # no ". ," in "он. — Как"


def is_display_math(text: str) -> bool:
    r"""Tell whether a block is one display formula (`$$…$$` or `\[…\]`) and nothing else."""
    return _DISPLAY_MATH.fullmatch(text.strip()) is not None


def _math(match: re.Match[str], phrases: Phrases) -> str:
    formula = match[1] if match[1] is not None else match[2]
    if match[1] is not None and not _MATH_SIGNS.search(formula) and " " in formula:
        return match[0]  # "$5 and 10$": money, not a formula
    if _LATEX.search(formula):
        return f" {phrases.formula_inline} "  # \frac, x^2 and x_1 are spelled, not read
    return formula  # "$a = 1$", "$n$" read as they are


def mask_escapes(text: str) -> str:
    """Return `text` with each backslash escape as two NUL characters, offsets kept."""
    return _ESCAPE.sub("\0\0", text)


def _tidy(text: str) -> str:
    text = _TIMES.sub(" × ", text)
    text = _POWER.sub(lambda match: "²" if match[1] == "2" else "³", text)
    text = _SHARP.sub("", text)
    text = _SYMBOL.sub("", text)
    text = _SPACED.sub(" ", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = " ".join(text.split())
    text = _SPACE_BEFORE.sub(r"\1", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    text = _QUOTED.sub(lambda match: match[1][0] + match[1][1:-1].strip() + match[1][-1], text)
    text = _COMMA_BEFORE.sub(r"\1", text)
    text = text.lstrip(",.;:!?)… ")
    return text if any(char.isalnum() for char in text) else ""


def _code_span(code: str, phrases: Phrases) -> str:
    # One short identifier (`pip`, `config.yaml`, `8080`) reads well; anything else would be
    # spelled symbol by symbol, so the listener is pointed to the chat.
    code = code.strip()
    name = _IDENTIFIER.fullmatch(code)
    if name and any(char.isalnum() for char in code):
        return name[1]
    return f" {phrases.code_inline} "


def _link_text(text: str, phrases: Phrases) -> str:
    if not text.strip() or _LOOKS_LIKE_URL.fullmatch(text):
        return f" {phrases.link} "
    return text


def _bare_url(url: str, phrases: Phrases) -> str:
    # Punctuation that ends the sentence or closes a bracket is not part of the address.
    tail = ""
    while url and (
        url[-1] in ".,;:!?'\"]}*_~`“”‘’»」』"
        or (url[-1] == ")" and url.count(")") > url.count("("))
    ):
        tail = url[-1] + tail
        url = url[:-1]
    return f" {phrases.link}{tail}"


def with_full_stop(text: str) -> str:
    """Return `text` ending with a sentence mark: "." or, after CJK, "。"."""
    core = text.rstrip(_CLOSERS + " ")
    if not core or core[-1] in _END_MARKS:
        return text
    return text + ("。" if is_cjk(core[-1]) else ".")


def is_cjk(char: str) -> bool:
    """Tell whether `char` is a Han ideograph or Japanese kana (written without spaces)."""
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF66 <= code <= 0xFF9F
        or 0x20000 <= code <= 0x3FFFF
    )


def split_sentences(text: str) -> list[str]:
    """Split one cleaned block into sentences, not at "e.g.", "Dr.", initials, "3.14", "3. Mai"."""
    sentences: list[str] = []
    start = 0
    for match in _TERMINATOR.finditer(text):
        if not _ends_sentence(text, match):
            continue
        piece = text[start : match.end()].strip()
        start = match.end()
        if any(char.isalnum() for char in piece):  # a lone ")." is not read
            sentences.append(piece)
    rest = text[start:].strip()
    if any(char.isalnum() for char in rest):
        sentences.append(rest)
    return sentences


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if match[1][0] in _CJK_STOPS:
        return True
    after = text[match.end() :]
    if after and not after[0].isspace():
        return False  # "3.14", "e.g.," and "a.b" go on
    following = after.lstrip()[:1]
    if following.islower():
        return False
    if match[1] == ".":
        words = text[max(0, match.start() - 40) : match.start()].split()
        word = words[-1].lstrip("(\"'“‘«").lower() if words else ""
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return False
        if word.isdigit() and len(word) <= 3:
            return False  # an ordinal ("am 3. Mai", "im 19. Jahrhundert") or a step number
    return True
