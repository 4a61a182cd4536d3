"""Groq chat completions posted as plain JSON, for langchain-groq's `ChatGroq`."""

from __future__ import annotations

from typing import Any

import groq
from groq import AsyncStream

PATH = "/openai/v1/chat/completions"


class PlainCompletions:
    """Stands in for `AsyncGroq().chat.completions` as `ChatGroq(async_client=...)`.

    The SDK's `create` walks every request against its TypedDicts before sending it (about
    0.13 ms per message: 3 ms of CPU for a 20-message history, on the path to the first token)
    and builds a pydantic model from every streamed chunk, which langchain-groq turns straight
    back into a dict. For a chat request of plain JSON that walk returns its input unchanged
    (`tests/test_completions.py` checks it), so this posts the body as it is and yields the
    chunks as dicts. The SDK still does the rest: headers, retries, errors, SSE parsing.
    """

    def __init__(self, client: groq.AsyncGroq) -> None:
        self._client = client

    async def create(
        self,
        *,
        extra_headers: dict[str, str] | None = None,
        extra_query: dict[str, object] | None = None,
        extra_body: dict[str, object] | None = None,
        stream: bool = False,
        **params: Any,
    ) -> Any:
        """POST the chat request; a stream of chunk dicts, or the completion dict."""
        options: dict[str, Any] = {}
        for key, value in (
            ("headers", extra_headers),
            ("params", extra_query),
            ("extra_json", extra_body),
        ):
            if value is not None:
                options[key] = value
        # ChatGroq fills unset options with None (`reasoning_format`, `stop`, `service_tier`...);
        # the SDK would send those as JSON nulls too. A null `reasoning_format` beside
        # `include_reasoning` is two mutually exclusive keys to Groq: unset means absent.
        body = {key: value for key, value in params.items() if value is not None}
        return await self._client.post(  # type: ignore[call-overload]
            PATH,
            body={**body, "stream": stream},
            options=options,
            cast_to=object,
            stream=stream,
            stream_cls=AsyncStream[object],
        )
