"""The spoken summary's request: a word budget from the seconds, and the answer's language."""

from __future__ import annotations

import pytest

from core.avatar.summary import summarize
from tests.fakes.memory import ScriptedModel


@pytest.mark.parametrize(("seconds", "words"), [(20, 45), (40, 90), (1, 10)])
async def test_the_model_is_asked_for_the_words_that_fit_the_seconds(
    seconds: float, words: int
) -> None:
    model = ScriptedModel(" In short: yes. ")
    spoken = await summarize(model, "The long answer.", max_seconds=seconds, language="de")
    assert spoken == "In short: yes."
    (system, user), *_ = model.prompts
    assert f"Use at most {words} words, in the language with ISO 639-1 code 'de'." in system.content
    assert (system.role, user.role, user.content) == ("system", "user", "The long answer.")


async def test_no_language_asks_for_the_answers_own() -> None:
    model = ScriptedModel("Yes.")
    await summarize(model, "Answer.", max_seconds=20, language=None)
    assert "in the same language as the answer." in model.prompts[0][0].content
