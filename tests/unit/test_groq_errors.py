"""Each Groq failure, as the SDK raises it after its retries, becomes one line and a log detail."""

from __future__ import annotations

from typing import Any

import groq
import httpx
import pytest

from core.errors import BadInputError, ConfigurationError, ServiceError
from core.groq.errors import explain, is_retired_model
from core.groq.vision import explain_image

URL = "http://127.0.0.1:9/openai/v1/chat/completions"
UNAVAILABLE = "My answering service isn't answering right now — please try again shortly."


def status_error(kind: type[groq.APIStatusError], status: int, code: str = "") -> Any:
    """`kind` as the SDK builds it: the whole JSON error body, the message from inside it."""
    body: dict[str, Any] = {"error": {"message": f"status {status}", "type": "x"}}
    if code:
        body["error"]["code"] = code
    response = httpx.Response(status, request=httpx.Request("POST", URL))
    return kind(f"status {status}", response=response, body=body)


def explained(error: Exception, service: str = "answering") -> tuple[type, str, str]:
    line = explain(error, model_setting="LLM_MODEL", service=service)
    return type(line), line.message, line.detail


@pytest.mark.parametrize(
    ("kind", "status"),
    [(groq.AuthenticationError, 401), (groq.PermissionDeniedError, 403)],
)
def test_a_refused_key_names_groq_api_key(kind: type[groq.APIStatusError], status: int) -> None:
    assert explained(status_error(kind, status), service="speech") == (
        ConfigurationError,
        "My speech service is misconfigured.",
        f"Groq refused GROQ_API_KEY ({status}): status {status}",
    )


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (groq.BadRequestError, 400, "model_decommissioned"),
        (groq.NotFoundError, 404, "model_not_found"),
    ],
)
def test_a_retired_model_names_its_setting(
    kind: type[groq.APIStatusError], status: int, code: str
) -> None:
    error = status_error(kind, status, code)
    assert is_retired_model(error)
    assert explained(error) == (
        ConfigurationError,
        "My answering service is misconfigured.",
        f"LLM_MODEL names a model Groq does not serve: status {status}",
    )


def test_an_unwrapped_error_body_is_read_too() -> None:
    response = httpx.Response(400, request=httpx.Request("POST", URL))
    error = groq.BadRequestError("gone", response=response, body={"code": "model_decommissioned"})
    assert is_retired_model(error)
    assert not is_retired_model(status_error(groq.BadRequestError, 400, "invalid_value"))
    assert not is_retired_model(status_error(groq.BadRequestError, 400))


def test_a_rate_limit_asks_for_a_minute() -> None:
    assert explained(status_error(groq.RateLimitError, 429)) == (
        ServiceError,
        "I'm getting too many requests right now — please try again in a minute.",
        "Groq rate limit: status 429",
    )


def test_a_file_too_large_is_bad_input() -> None:
    error = status_error(groq.APIStatusError, 413)
    assert explained(error) == (
        BadInputError,
        "That recording is too large for me.",
        "status 413",
    )


@pytest.mark.parametrize("status", [400, 414, 422])
def test_another_refusal_is_unavailable_with_its_status(status: int) -> None:
    error = status_error(groq.APIStatusError, status, "invalid_value")
    assert explained(error) == (ServiceError, UNAVAILABLE, f"Groq {status}: status {status}")


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_or_no_connection_is_unavailable(status: int) -> None:
    server = status_error(groq.InternalServerError, status)
    assert explained(server) == (
        ServiceError,
        UNAVAILABLE,
        f"Groq failed: InternalServerError: status {status}",
    )
    offline = groq.APIConnectionError(request=httpx.Request("POST", URL))
    assert explained(offline) == (
        ServiceError,
        UNAVAILABLE,
        "Groq failed: APIConnectionError: Connection error.",
    )


def test_a_photo_model_groq_does_not_serve_is_reported_against_vision_model() -> None:
    error = status_error(groq.NotFoundError, 404, code="model_not_found")
    line = explain_image(error)
    assert (type(line), line.message, line.detail) == (
        ConfigurationError,
        "My photo service is misconfigured.",
        "VISION_MODEL names a model Groq does not serve: status 404",
    )
