"""A chat's persona (/persona): one of PERSONAS by name, or a short text of the chat's own.

The persona never replaces SYSTEM_PROMPT: the model gets one system message, SYSTEM_PROMPT
first (the operator's rules: language, length, secrecy) and the persona after it, so a chat
can change who the bot plays but not the rules it plays by.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from core import messages
from core.errors import BadInputError
from core.i18n import Line

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 500
# A PERSONAS name: one word, so a stored persona without whitespace is a name, else free text.
NAME = re.compile(r"[a-z0-9_-]{1,32}")
RESET = "reset"
# How the persona reaches the model, after SYSTEM_PROMPT (for the model, not for the user).
PERSONA_PROMPT = (
    "{base}\n\nIn this chat, play this persona (everything above still applies): {persona}"
)


class Personas:
    """Checks what a chat asks for and builds the system prompt its answers get."""

    def __init__(
        self,
        system_prompt: str,
        named: Mapping[str, str] | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self._base, self._max_chars = system_prompt, max_chars
        self._named = {name.lower(): prompt for name, prompt in (named or {}).items()}

    @property
    def names(self) -> list[str]:
        """The PERSONAS names, sorted."""
        return sorted(self._named)

    def choose(self, text: str) -> str:
        """Return what to store for `/persona <text>`; a `BadInputError` with one line if bad.

        A single word must be a PERSONAS name (stored lower-case); more words are the chat's
        own persona, at most PERSONA_MAX_CHARS characters.
        """
        text = " ".join(text.split())
        if len(text) > self._max_chars:
            raise BadInputError(Line(messages.PERSONA_TOO_LONG, limit=self._max_chars))
        if " " in text:
            return text
        name = text.lower()
        if name in self._named:
            return name
        choices = (
            Line(messages.PERSONA_CHOICES, names=", ".join(self.names))
            if self._named
            else Line(messages.PERSONA_DESCRIBE)
        )
        raise BadInputError(Line(messages.PERSONA_UNKNOWN, name=text[:40], choices=choices))

    def describe(self, stored: str | None) -> str:
        """Return the line `/persona` alone answers: the chat's persona, or how to set one."""
        if stored is not None and " " in stored:
            return Line(messages.PERSONA_FREE, persona=stored)
        if stored is not None and stored in self._named:
            return Line(messages.PERSONA_NAMED, name=stored, prompt=self._named[stored])
        names = Line(messages.PERSONA_NAMES, names=", ".join(self.names)) if self._named else ""
        return Line(messages.PERSONA_DEFAULT, names=names)

    def shown(self, stored: str) -> str:
        """Return how a persona just set is named back to the chat."""
        return f"“{stored}”" if stored in self._named else stored

    def system_prompt(self, stored: str | None) -> str:
        """Return SYSTEM_PROMPT, with the chat's persona after it when it has one."""
        if stored is None:
            return self._base
        if " " in stored:
            persona = stored
        elif stored in self._named:
            persona = self._named[stored]
        else:  # a name PERSONAS no longer holds: the default, until the chat picks again
            log.info("persona %r is no longer in PERSONAS; the default applies", stored)
            return self._base
        return PERSONA_PROMPT.format(base=self._base, persona=persona)
