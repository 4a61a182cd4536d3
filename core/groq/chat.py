"""The answer: a Groq chat model through langchain-groq, streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import groq
import httpx
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_groq import ChatGroq

from core.groq.completions import PlainCompletions
from core.groq.errors import explain
from core.groq.vision import content_parts, explain_image
from core.ports import UsageSink
from core.types import ChatMessage, TokenUsage

_ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}


# Groq's default output cap for a chat model: an answer must stay short enough to show and speak.
DEFAULT_MAX_TOKENS = 1024


def reasoning_options(model: str) -> dict[str, Any]:
    """ChatGroq options that keep a reasoning model's thinking out of the answer, and fast.

    Groq's API reference (console.groq.com/docs/api-reference#chat-create) documents
    `include_reasoning` and `reasoning_format` as mutually exclusive: each family gets one.
    """
    if model.startswith("openai/gpt-oss"):
        # gpt-oss rejects reasoning_format; include_reasoning=False drops the reasoning field.
        return {"reasoning_effort": "low", "model_kwargs": {"include_reasoning": False}}
    if model.startswith("qwen/qwen3"):
        return {"reasoning_format": "hidden"}
    return {}


class ThinkFilter:
    """Drops `<think>…</think>` spans from a stream, even when a tag is split across pieces."""

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self._pending = ""
        self._inside = False

    def feed(self, piece: str) -> str:
        """Return the visible part of `piece`, holding back a possible partial tag."""
        text, out = self._pending + piece, []
        self._pending = ""
        while text:
            tag = self._CLOSE if self._inside else self._OPEN
            at = text.find(tag)
            if at >= 0:
                if not self._inside:
                    out.append(text[:at])
                text, self._inside = text[at + len(tag) :], not self._inside
                continue
            keep = _partial_suffix(text, tag)
            if not self._inside:
                out.append(text[: len(text) - keep])
            self._pending = text[len(text) - keep :]
            break
        return "".join(out)

    def flush(self) -> str:
        """Return what was held back at the end of the stream."""
        rest, self._pending = ("" if self._inside else self._pending), ""
        return rest


def _partial_suffix(text: str, tag: str) -> int:
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class _AsyncOnly:
    """ChatGroq's synchronous client, which avatarbot never calls: it streams asynchronously.

    Left unset, ChatGroq builds a `groq.Groq` with its own connection pool and TLS context
    (about 1 MiB of the bot's memory) that nothing would use.
    """

    def create(self, **_: Any) -> Any:
        raise RuntimeError("avatarbot calls the chat model asynchronously only")


class GroqChatModel:
    """Streams answers from a Groq-served chat model."""

    def __init__(self, llm: ChatGroq, setting: str = "LLM_MODEL") -> None:
        self._llm = llm
        self._setting = setting  # the variable naming the model, for a retired model's log line

    @classmethod
    def create(
        cls,
        client: groq.AsyncGroq,
        model: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        setting: str = "LLM_MODEL",
    ) -> GroqChatModel:
        """Build ChatGroq on `client` with the reasoning options that fit `model`.

        Every request carries `max_completion_tokens` (Groq's API reference: `max_tokens` is
        "deprecated in favor of `max_completion_tokens`"), so an answer's length is bounded.
        """
        options = reasoning_options(model)
        model_kwargs = {**options.pop("model_kwargs", {}), "max_completion_tokens": max_tokens}
        llm = ChatGroq(
            model=model,
            api_key=client.api_key,  # type: ignore[arg-type]
            base_url=str(client.base_url),
            async_client=PlainCompletions(client),
            client=_AsyncOnly(),
            model_kwargs=model_kwargs,
            **options,
        )
        return cls(llm, setting)

    async def stream(
        self, messages: Sequence[ChatMessage], *, on_usage: UsageSink | None = None
    ) -> AsyncIterator[str]:
        """Yield visible pieces of the answer as Groq streams them; `on_usage` hears its tokens.

        Groq reports a streamed call's usage in `x_groq.usage` of the last chunk, which
        langchain-groq gives as that chunk's `usage_metadata` (`_convert_chunk_to_message_chunk`
        in langchain_groq/chat_models.py); a stream cut short reports none. A message with an
        image goes as OpenAI-style content parts (its text, then an `image_url` with a `data:`
        URL), which langchain-groq passes through to Groq as they are.
        """
        prompt = [_message(message) for message in messages]
        with_image = any(message.image is not None for message in messages)
        thoughts = ThinkFilter()
        try:
            async for chunk in self._llm.astream(prompt):
                if isinstance(chunk.content, str) and (visible := thoughts.feed(chunk.content)):
                    yield visible
                used = chunk.usage_metadata if isinstance(chunk, AIMessageChunk) else None
                if on_usage is not None and used:
                    on_usage(TokenUsage(used["input_tokens"], used["output_tokens"]))
        # The SDK maps network failures while sending a request to its own errors, but one that
        # cuts the streamed body reaches the reader as httpx's.
        except (groq.APIError, httpx.TransportError) as exc:
            if with_image:
                raise explain_image(exc) from exc
            raise explain(exc, model_setting=self._setting, service="answering") from exc
        if tail := thoughts.flush():
            yield tail


def _message(message: ChatMessage) -> BaseMessage:
    if message.image is None:
        return _ROLES[message.role](content=message.content)
    return _ROLES[message.role](content=content_parts(message.content, message.image))
