"""Speech to text with Groq Whisper."""

from __future__ import annotations

import logging

import groq

from core import audio as audio_prep
from core.errors import BadInputError
from core.groq_errors import explain, is_retired_model
from core.types import Audio

log = logging.getLogger(__name__)


class GroqTranscriber:
    """Transcribes audio through the `groq` SDK's `audio.transcriptions.create`."""

    def __init__(self, client: groq.AsyncGroq, model: str) -> None:
        self._client = client
        self._model = model

    async def transcribe(self, audio: Audio) -> str:
        """Return the transcript; raise a `UserFacingError` for bad audio or a failed service."""
        prepared = await audio_prep.prepare(audio)
        try:
            result = await self._client.audio.transcriptions.create(
                file=(prepared.filename, prepared.data, prepared.mime_type),
                model=self._model,
                response_format="json",
            )
        except groq.BadRequestError as exc:
            if is_retired_model(exc):
                raise explain(exc, model_setting="WHISPER_MODEL", service="speech") from exc
            log.info("Whisper refused the audio: %s", exc.message)
            raise BadInputError(
                "I couldn't hear anything in that — is it a voice recording?"
            ) from exc
        except groq.APIError as exc:
            raise explain(exc, model_setting="WHISPER_MODEL", service="speech") from exc
        text = (result.text or "").strip()
        if not text:
            raise BadInputError("I couldn't hear anything in that voice message.")
        return text
