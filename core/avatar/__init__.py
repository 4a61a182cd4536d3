"""The avatar's spoken script: what the talking-avatar video says for an answer."""

from core.avatar.script import (
    SpokenScript,
    estimate_seconds,
    sentences,
    speakable,
    spoken_script,
)
from core.avatar.stream import SentenceStream

__all__ = [
    "SentenceStream",
    "SpokenScript",
    "estimate_seconds",
    "sentences",
    "speakable",
    "spoken_script",
]
