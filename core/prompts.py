"""What the model is asked: the user's text or photo checked, the persona and history before it.

Also the question a delivered answer answered, read back from history for its video's language.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.errors import BadInputError
from core.i18n import Line
from core.images import checked, history_note
from core.personas import Personas
from core.ports import ChatModel, HistoryStore, PreferenceStore
from core.types import ChatMessage, ConversationKey, Image


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """How the engine talks: default persona, history window, input limit, avatar default.

    `system_prompt` is SYSTEM_PROMPT; a chat's own persona (`Personas`) comes after it.
    """

    system_prompt: str
    history_limit: int = 20
    max_text_chars: int = 4000
    avatar_default: bool = True


class Prompts:
    """Builds the messages a turn asks the model: system prompt and persona, history, question."""

    def __init__(
        self,
        settings: ConversationSettings,
        history: HistoryStore,
        preferences: PreferenceStore,
        personas: Personas,
        model: ChatModel,
        vision: ChatModel | None,
    ) -> None:
        self._settings, self._history, self._preferences = settings, history, preferences
        self._personas, self._model = personas, model
        self._vision = vision  # VISION_MODEL: answers photos; None: photos are declined

    @property
    def vision_available(self) -> bool:
        """Whether photos are answered (VISION_MODEL is set)."""
        return self._vision is not None

    def for_input(
        self, text: str | None, image: Image | None
    ) -> tuple[ChatModel, ChatMessage, ChatMessage]:
        """Return the model to ask, the question it is asked, and the question history keeps."""
        if image is not None:  # VISION_MODEL looks; history keeps a note, not the photo
            return self._photo(image, text)
        asked = self._checked(text)
        return self._model, asked, asked

    async def messages(self, key: ConversationKey, asked: ChatMessage) -> list[ChatMessage]:
        """Return the system prompt with the chat's persona, the recent history, then `asked`."""
        past, persona = await asyncio.gather(  # both before the model is asked: at once
            self._history.recent(key, self._settings.history_limit),
            self._preferences.persona(key),
        )
        system = ChatMessage("system", self._personas.system_prompt(persona))
        return [system, *past, asked]

    def _photo(
        self, image: Image, caption: str | None
    ) -> tuple[ChatModel, ChatMessage, ChatMessage]:
        """Return the vision model, the question that carries the photo, and history's note."""
        if self._vision is None:
            raise BadInputError(Line("I can't look at photos here — send me text or a voice note."))
        caption = (caption or "").strip()
        if len(caption) > self._settings.max_text_chars:
            self._checked(caption)  # the line that says the limit
        photo = checked(image)
        note = ChatMessage("user", history_note(caption))
        return self._vision, ChatMessage("user", caption, photo), note

    def _checked(self, text: str | None) -> ChatMessage:
        text = (text or "").strip()
        if not text:
            raise BadInputError(Line("Send me a message or a voice note and I'll answer."))
        limit = self._settings.max_text_chars
        if len(text) > limit:
            too_long = "That's too long for me — please keep it under {limit} characters."
            raise BadInputError(Line(too_long, limit=limit))
        return ChatMessage("user", text)

    async def question(self, key: ConversationKey, answer: str, language: str | None) -> str:
        """Return the question `answer` answered, whose words tell a short answer's language.

        Turns run in order per conversation, so the last pair in history is this answer's.
        """
        if language is not None:
            return ""  # Whisper heard it
        match await self._history.recent(key, 2):
            case [asked, said] if asked.role == "user" and said.content == answer:
                return asked.content
        return ""
