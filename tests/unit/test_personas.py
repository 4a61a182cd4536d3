"""Personas on their own: what `/persona <text>` stores, the lines that describe a chat's
persona or refuse one, and the system prompt the model gets."""

from __future__ import annotations

import pytest

from core import messages
from core.errors import BadInputError
from core.personas import PERSONA_PROMPT, Personas

BASE = "Be brief."
PIRATE = "You are a cheerful pirate."
NAMED = Personas(BASE, {"Pirate": PIRATE, "Sage": "You are wise."}, max_chars=20)
BARE = Personas(BASE, max_chars=20)


@pytest.mark.parametrize(
    ("personas", "text", "stored"),
    [
        (NAMED, "  SAGE ", "sage"),
        (NAMED, "a  grumpy\n librarian", "a grumpy librarian"),
        (NAMED, "a" * 9 + " " + "b" * 10, "a" * 9 + " " + "b" * 10),
        (BARE, "a calm voice", "a calm voice"),
    ],
    ids=["a-name", "own-words", "exactly-the-limit", "own-words-without-names"],
)
def test_what_a_persona_command_stores(personas: Personas, text: str, stored: str) -> None:
    assert personas.choose(text) == stored


@pytest.mark.parametrize(
    ("personas", "text", "line"),
    [
        (NAMED, "a" * 10 + " " + "b" * 10, messages.PERSONA_TOO_LONG.format(limit=20)),
        (
            NAMED,
            "Ninja",
            "I don't know the persona “Ninja”. Pick one of: pirate, sage, or describe one in a "
            "few words.",
        ),
        (
            BARE,
            "ninja",
            "I don't know the persona “ninja”. Describe the persona in a few words: "
            "/persona <text>.",
        ),
    ],
    ids=["one-over-the-limit", "unknown-name", "unknown-name-without-names"],
)
def test_a_persona_that_cannot_be_stored_is_one_line(
    personas: Personas, text: str, line: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        personas.choose(text)
    assert refused.value.message == line


@pytest.mark.parametrize(
    ("personas", "stored", "line"),
    [
        (NAMED, "pirate", f"My persona here is “pirate”: {PIRATE}"),
        (NAMED, "a calm voice", "My persona here: a calm voice"),
        (
            NAMED,
            None,
            "I'm using my default persona here. Set one with /persona <text> or one of: "
            "pirate, sage.",
        ),
        (
            NAMED,
            "retired",
            "I'm using my default persona here. Set one with /persona <text> or one of: "
            "pirate, sage.",
        ),
        (BARE, None, "I'm using my default persona here. Set one with /persona <text>."),
    ],
    ids=["named", "own-words", "default", "a-name-no-longer-there", "default-without-names"],
)
def test_how_a_chats_persona_is_described(
    personas: Personas, stored: str | None, line: str
) -> None:
    assert personas.describe(stored) == line


def test_a_persona_just_set_is_named_back() -> None:
    assert NAMED.shown("pirate") == "“pirate”"
    assert NAMED.shown("a calm voice") == "a calm voice"


@pytest.mark.parametrize(
    ("stored", "prompt"),
    [
        (None, BASE),
        ("pirate", PERSONA_PROMPT.format(base=BASE, persona=PIRATE)),
        ("a calm voice", PERSONA_PROMPT.format(base=BASE, persona="a calm voice")),
        ("retired", BASE),
    ],
    ids=["none", "named", "own-words", "a-name-no-longer-there"],
)
def test_the_persona_comes_after_the_system_prompt(stored: str | None, prompt: str) -> None:
    assert NAMED.system_prompt(stored) == prompt
    assert NAMED.names == ["pirate", "sage"]


def test_an_unknown_name_is_named_back_in_its_first_40_characters() -> None:
    personas = Personas(BASE, max_chars=100)
    with pytest.raises(BadInputError) as refused:
        personas.choose("n" * 50)
    assert refused.value.message.startswith(f"I don't know the persona “{'n' * 40}”. ")
