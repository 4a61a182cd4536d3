"""Reasoning never reaches the user, whichever way the model streams it."""

import pytest

from core.groq.chat import ThinkFilter, reasoning_options


def run(pieces: list[str]) -> str:
    thoughts = ThinkFilter()
    return "".join(thoughts.feed(piece) for piece in pieces) + thoughts.flush()


@pytest.mark.parametrize(
    "pieces",
    [
        ["<think>secret</think>Hello there."],
        ["<thi", "nk>sec", "ret</th", "ink>Hello", " there."],
        ["<think>", "secret", "</think>", "Hello there."],
        list("<think>secret</think>Hello there."),
    ],
)
def test_think_spans_are_dropped_across_chunk_boundaries(pieces: list[str]) -> None:
    assert run(pieces) == "Hello there."


def test_plain_text_and_lookalikes_pass_through() -> None:
    assert run(["a < b and <th", "in> is fine"]) == "a < b and <thin> is fine"
    assert run(["ends with <"]) == "ends with <"


def test_unclosed_think_hides_the_rest() -> None:
    assert run(["Hi <think>never closed"]) == "Hi "


def test_reasoning_options_per_model_family() -> None:
    assert reasoning_options("openai/gpt-oss-20b") == {
        "reasoning_effort": "low",
        "model_kwargs": {"include_reasoning": False},
    }
    assert reasoning_options("qwen/qwen3.6-27b") == {"reasoning_format": "hidden"}
    assert reasoning_options("some/other-model") == {}
