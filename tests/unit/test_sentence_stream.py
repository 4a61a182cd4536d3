"""SentenceStream fed one character at a time: each sentence comes out as soon as nothing that
may still arrive can change it (after its mark and the first complete word after it), and not
before; what is held back comes with `flush`. The whole-answer agreement with the spoken script
is tested in tests/test_spoken_script.py; this is the timing."""

from __future__ import annotations

import pytest

from core.avatar.stream import SentenceStream

# (answer, [(characters fed when the sentence came out, or None: at flush, sentence)])
TIMING: list[tuple[str, list[tuple[int | None, str]]]] = [
    ("One. Two three. Four", [(9, "One."), (None, "Two three."), (None, "Four.")]),
    ("Hi!\n\nNext para here. End", [(5, "Hi!"), (None, "Next para here."), (None, "End.")]),
    ("Use `x. y` now. Then more", [(21, "Use the code in the chat now."), (None, "Then more.")]),
    (
        "A list:\n- first item. ok\n- second. done",
        [(21, "A list:"), (35, "first item. ok."), (None, "second. done.")],
    ),
    (
        "| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter table. yes",
        [(31, "The table is in the chat."), (None, "After table. yes.")],
    ),
    (
        "```\ncode. here\n```\nAfter code. fine",
        [(25, "The code is in the chat."), (None, "After code. fine.")],
    ),
    ("你好。世界。再见", [(6, "你好。"), (None, "世界。"), (None, "再见。")]),
    ("Line one\r\nLine two. Three", [(None, "Line one Line two."), (None, "Three.")]),
    ("See <b>bold. text</b> here. Next", [(None, "See bold. text here."), (None, "Next.")]),
    ("Title\n===\nBody text. More", [(15, "Title."), (None, "Body text."), (None, "More.")]),
    ("> quoted. line\n\nplain. end", [(16, "quoted. line."), (None, "plain. end.")]),
    ("Image ![alt. text](u) after. Yes", [(None, "Image after."), (None, "Yes.")]),
    ("# Heading\nText. Rest", [(16, "Heading."), (None, "Text."), (None, "Rest.")]),
    # Once an image, a tag or a second code span closes, what is before it is settled.
    (
        "Image ![alt. Text](u) after. Yes and more. End",
        [(33, "Image after."), (None, "Yes and more."), (None, "End.")],
    ),
    (
        "See <a href='x. Y'>link</a> now. Next and more. End",
        [(38, "See link now."), (None, "Next and more."), (None, "End.")],
    ),
    (
        "Use `a` and `b. C` now. Next and more. End",
        [(29, "Use a and the code in the chat now."), (None, "Next and more."), (None, "End.")],
    ),
]

# Plain names: mutmut passes test ids on pytest's command line, where an id with an escape
# (a new line, a non-ASCII letter) is not found again.
IDS = [
    "sentences",
    "paragraphs",
    "inline-code",
    "list",
    "table",
    "fence",
    "chinese",
    "crlf",
    "tags",
    "setext-heading",
    "quote",
    "image",
    "atx-heading",
    "closed-image",
    "closed-tag",
    "two-code-spans",
]
assert len(IDS) == len(TIMING)


def fed(stream: SentenceStream, answer: str) -> list[tuple[int | None, str]]:
    out: list[tuple[int | None, str]] = []
    for index, character in enumerate(answer):
        out += [(index + 1, sentence) for sentence in stream.feed(character)]
    return out + [(None, sentence) for sentence in stream.flush()]


@pytest.mark.parametrize(("answer", "expected"), TIMING, ids=IDS)
def test_each_sentence_comes_out_as_soon_as_it_is_settled(
    answer: str, expected: list[tuple[int | None, str]]
) -> None:
    assert fed(SentenceStream(), answer) == expected


@pytest.mark.parametrize(("answer", "expected"), TIMING, ids=IDS)
def test_a_stream_that_was_flushed_starts_afresh(
    answer: str, expected: list[tuple[int | None, str]]
) -> None:
    stream = SentenceStream()
    fed(stream, "```\nan open fence, a list:\n- and a | table")
    assert fed(stream, answer) == expected


def test_larger_deltas_give_the_same_sentences_at_their_settled_points() -> None:
    stream = SentenceStream()
    assert stream.feed("One. Two ") == ["One."]
    assert stream.feed("three. Four ") == ["Two three."]
    assert stream.flush() == ["Four."]


def test_a_carriage_return_waits_for_its_line_feed() -> None:
    stream = SentenceStream()
    assert (stream.feed("A\r"), stream.feed("\nB. C "), stream.flush()) == ([], [], ["A B. C."])
    assert (stream.feed("A.\r"), stream.flush()) == ([], ["A."])


def test_the_requested_language_names_the_code_in_every_answer() -> None:
    stream = SentenceStream("de")
    assert fed(stream, "Erst. ```\nx\n```\nDanke. Ende") == [
        (16, "Erst. x."),
        (None, "Der Code steht im Chat."),
    ]
    assert fed(stream, "```\nx\n```\nEnde. Gut") == [
        (16, "Der Code steht im Chat."),
        (None, "Ende."),
        (None, "Gut."),
    ]


def test_the_headings_given_are_told_as_a_clips_cut_drops_them() -> None:
    stream = SentenceStream()
    out = stream.feed("# Plan\n\nFirst. Then more.\n\n## Dinner\n\nWe cook. ")
    assert out == ["Plan.", "First.", "Then more.", "Dinner."]
    assert stream.headings == {"Plan.", "Dinner."}
    assert stream.flush() == ["We cook."] and stream.headings == {"Plan.", "Dinner."}
