"""The avatar's expression follows the script's tone: sentence by sentence, at D-ID's frames."""

from __future__ import annotations

import pytest

from core.avatar.expressions import driver_expressions, expressions, tone

TONES = [
    ("fact", "The capital of France is Paris.", ("neutral", 0.0)),
    ("exclamation", "Hello there!", ("happy", 0.5)),
    ("cue and exclamation", "Congratulations on the new job!", ("happy", 0.75)),
    ("three cues", "That is great, I am so glad you enjoy it.", ("happy", 1.0)),
    ("sorry", "I'm sorry to hear about your loss.", ("serious", 0.5)),
    ("three serious cues", "Unfortunately that is dangerous, be careful.", ("serious", 1.0)),
    ("tie", "Sorry, but congrats anyway.", ("serious", 0.5)),  # a tie is the serious kind
    ("surprise", "Wow, that is amazing.", ("surprise", 0.75)),
    ("interrobang", "You did what?!", ("surprise", 0.75)),
    ("bang question", "Really!?", ("surprise", 0.75)),
    ("cue and interrobang", "Wow, really?!", ("surprise", 1.0)),  # the "?!" adds to the cue
    ("four cues and exclamation", "Great, glad, happy and awesome!", ("happy", 1.0)),  # capped
    ("four cues", "Great, glad, happy and awesome", ("happy", 1.0)),
    ("spanish", "¡Felicidades por tu cumpleaños!", ("happy", 0.75)),
    ("spanish two words", "Lo siento mucho.", ("serious", 0.5)),
    ("french", "Félicitations, c'est génial !", ("happy", 1.0)),
    ("german", "Leider geht das heute nicht.", ("serious", 0.5)),
    ("german surprise", "Das ist unglaublich.", ("surprise", 0.5)),
    ("portuguese", "Parabéns pelo trabalho!", ("happy", 0.75)),
    ("italian", "Purtroppo non è possibile.", ("serious", 0.5)),
    ("whole words", "Gladys funds the sorrowful wowser.", ("neutral", 0.0)),
]


@pytest.mark.parametrize(
    ("sentence", "expected"), [c[1:] for c in TONES], ids=[c[0] for c in TONES]
)
def test_tone_of_a_sentence(sentence: str, expected: tuple[str, float]) -> None:
    assert tone(sentence) == expected


SCRIPTS = [
    ("no cue", "Paris is the capital. It has two million people.", []),
    ("a plain sentence keeps it", "Great news! The parcel arrived.", [(0, "happy", 0.75)]),
    # 5 words before the happy sentence: 2 s of speech at 2.5 words/s, 50 frames at 25 fps.
    (
        "neutral then happy",
        "Here is the forecast today. Lovely, a great sunny day!",
        [(0, "neutral", 0.0), (50, "happy", 0.75)],
    ),
    (
        "three tones",
        "I am sorry it broke. Wow, the fix is amazing! Great!",
        [(0, "serious", 0.5), (50, "surprise", 1.0), (100, "happy", 0.75)],
    ),
    ("no change", "Great! Good! Fun!", [(0, "happy", 0.75)]),
    (  # a sentence without a cue keeps the face, and the next cue still changes it
        "plain sentence between two tones",
        "Great news! The parcel arrived. Sorry, it broke.",
        [(0, "happy", 0.75), (50, "serious", 0.5)],
    ),
    # One word a sentence: 0.4 s, 10 frames each; a seventh change is not sent.
    (
        "at most six",
        "Sorry. Wow. Great. Sorry. Wow. Great. Sorry. Wow.",
        [
            (0, "serious", 0.5),
            (10, "surprise", 0.5),
            (20, "happy", 0.5),
            (30, "serious", 0.5),
            (40, "surprise", 0.5),
            (50, "happy", 0.5),
        ],
    ),
    ("two plain sentences", "One two three. Hello.", []),
]


@pytest.mark.parametrize(
    ("script", "expected"), [c[1:] for c in SCRIPTS], ids=[c[0] for c in SCRIPTS]
)
def test_expressions_along_a_script(script: str, expected: list[tuple[int, str, float]]) -> None:
    assert [(e.start_frame, e.expression, e.intensity) for e in expressions(script)] == expected


def test_driver_expressions_is_d_ids_shape_and_none_when_neutral() -> None:
    assert driver_expressions("Paris is the capital.") is None
    assert driver_expressions("Congratulations!") == {
        "expressions": [{"start_frame": 0, "expression": "happy", "intensity": 0.75}],
        "transition_frames": 20,
    }
