"""The avatar's facial expression, following the tone of what it says, with no model round trip.

D-ID's talks take `config.driver_expressions` (docs.d-id.com/reference/facial-expressions):
a list of `{start_frame, expression, intensity}` with `expression` one of neutral, happy,
serious and surprise and `intensity` from 0 to 1, plus `transition_frames`, how many frames
the face takes to move from one to the next. The tone is read from the spoken script, sentence
by sentence, by lexical cues (a small table of words in the languages the voices speak most)
and punctuation; a sentence of another tone starts a new expression at the frame where it is
expected to be spoken, and one without a cue keeps the face it has. A script with no cue at
all sends no expressions: D-ID's face stays as it is by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EXPRESSIONS = ("neutral", "happy", "serious", "surprise")
# D-ID renders talks at 25 frames a second; speech runs at about 2.5 words a second (150 wpm).
FRAMES_PER_SECOND = 25
WORDS_PER_SECOND = 2.5
TRANSITION_FRAMES = 20
MAX_EXPRESSIONS = 6  # a sentence-by-sentence flicker of faces looks worse than a few changes

# Cues by tone, "|"-separated: English, Spanish, French, German, Portuguese and Italian.
_CUES: dict[str, str] = {
    "happy": (
        "great|glad|happy|awesome|wonderful|congratulations|congrats|love|enjoy|fun|"
        "excellent|fantastic|delighted|yay|hooray|well done|genial|feliz|felicidades|"
        "enhorabuena|maravilloso|excelente|génial|heureux|heureuse|félicitations|merveilleux|"
        "ravi|bravo|toll|glücklich|freue|glückwunsch|wunderbar|prima|ótimo|parabéns|"
        "maravilhoso|fantastico|felice|congratulazioni"
    ),
    "serious": (
        "sorry|unfortunately|sadly|warning|careful|danger|dangerous|important|serious|risk|"
        "condolences|regret|emergency|beware|lo siento|lamentablemente|desafortunadamente|"
        "cuidado|peligro|désolé|désolée|malheureusement|attention|leider|tut mir leid|"
        "vorsicht|gefahr|wichtig|infelizmente|desculpe|perigo|purtroppo|mi dispiace|"
        "attenzione|pericolo"
    ),
    "surprise": (
        "wow|whoa|incredible|unbelievable|amazing|astonishing|surprising|surprisingly|"
        "increíble|sorprendente|incroyable|étonnant|unglaublich|erstaunlich|wahnsinn|"
        "incrível|uau|incredibile"
    ),
}
# Ties go to the first: a sorry and a congratulations in one sentence is the serious kind.
_ORDER = ("serious", "surprise", "happy")


def _pattern(cues: str) -> re.Pattern[str]:
    alternatives = "|".join(map(re.escape, cues.split("|")))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


_PATTERNS = {name: _pattern(cues) for name, cues in _CUES.items()}
_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")


@dataclass(frozen=True, slots=True)
class Expression:
    """One of D-ID's expressions from `start_frame` on, at `intensity` (0 to 1)."""

    start_frame: int
    expression: str
    intensity: float


def tone(sentence: str) -> tuple[str, float]:
    """Return the expression for one sentence and its intensity; ("neutral", 0.0) with no cue."""
    scores = {name: len(_PATTERNS[name].findall(sentence)) for name in _ORDER}
    exclaims = "!" in sentence
    if "?!" in sentence or "!?" in sentence:
        scores["surprise"] += 1
    best = max(_ORDER, key=lambda name: scores[name])  # max keeps the first of equals
    if scores[best] == 0:
        return ("happy", 0.5) if exclaims else ("neutral", 0.0)
    intensity = 0.5 + 0.25 * (scores[best] - 1) + (0.25 if exclaims else 0.0)
    return best, min(intensity, 1.0)


def expressions(script: str) -> list[Expression]:
    """List the expressions along a spoken script: one where the tone changes; none, no cue."""
    found: list[Expression] = []
    words = 0
    for match in _SENTENCE.finditer(script):
        sentence = match.group()
        name, intensity = tone(sentence)
        frame = round(words / WORDS_PER_SECOND * FRAMES_PER_SECOND)
        words += len(sentence.split())
        if found and (name == "neutral" or found[-1].expression == name):
            continue  # a sentence without a cue keeps the face it has
        found.append(Expression(frame if found else 0, name, intensity))
    if all(e.expression == "neutral" for e in found):
        return []
    return found[:MAX_EXPRESSIONS]


def driver_expressions(script: str) -> dict[str, Any] | None:
    """Build the talk's `config.driver_expressions` for `script`; None when its tone is neutral."""
    chosen = expressions(script)
    if not chosen:
        return None
    listed = [
        {"start_frame": e.start_frame, "expression": e.expression, "intensity": e.intensity}
        for e in chosen
    ]
    return {"expressions": listed, "transition_frames": TRANSITION_FRAMES}
