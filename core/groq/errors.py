"""Turn Groq SDK exceptions into one short line for the user and a detail for the log."""

from __future__ import annotations

import groq

from core.errors import BadInputError, ConfigurationError, ServiceError, UserFacingError
from core.i18n import Line

_RETIRED_CODES = {"model_decommissioned", "model_not_found"}


def _error_code(exc: groq.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("code") or "")
    return ""


# Whole sentences per service ("answering", "speech", "voice", "photo"): (not answering,
# misconfigured).
_LINES = {
    "answering": (
        Line("My answering service isn't answering right now — please try again shortly."),
        Line("My answering service is misconfigured."),
    ),
    "speech": (
        Line("My speech service isn't answering right now — please try again shortly."),
        Line("My speech service is misconfigured."),
    ),
    "voice": (
        Line("My voice service isn't answering right now — please try again shortly."),
        Line("My voice service is misconfigured."),
    ),
    "photo": (
        Line("My photo service isn't answering right now — please try again shortly."),
        Line("My photo service is misconfigured."),
    ),
}


def is_retired_model(exc: groq.APIStatusError) -> bool:
    """Tell whether Groq says the requested model is decommissioned or unknown."""
    return _error_code(exc) in _RETIRED_CODES


def explain(exc: Exception, *, model_setting: str, service: str) -> UserFacingError:
    """Map a Groq failure (after the SDK's own retries) to a user-facing error.

    `model_setting` names the variable that holds the model (LLM_MODEL or WHISPER_MODEL), so a
    retired model is reported against the setting that needs changing.
    """
    unavailable, misconfigured = _LINES.get(service, _LINES["answering"])
    if isinstance(exc, groq.AuthenticationError | groq.PermissionDeniedError):
        detail = f"Groq refused GROQ_API_KEY ({exc.status_code}): {exc.message}"
        return ConfigurationError(misconfigured, detail=detail)
    if isinstance(exc, groq.APIStatusError) and is_retired_model(exc):
        detail = f"{model_setting} names a model Groq does not serve: {exc.message}"
        return ConfigurationError(misconfigured, detail=detail)
    if isinstance(exc, groq.RateLimitError):
        busy = Line("I'm getting too many requests right now — please try again in a minute.")
        return ServiceError(busy, detail=f"Groq rate limit: {exc.message}")
    if isinstance(exc, groq.APIStatusError) and exc.status_code == 413:
        return BadInputError(Line("That recording is too large for me."), detail=exc.message)
    if isinstance(exc, groq.APIStatusError) and exc.status_code < 500:
        return ServiceError(unavailable, detail=f"Groq {exc.status_code}: {exc.message}")
    return ServiceError(unavailable, detail=f"Groq failed: {type(exc).__name__}: {exc}")
