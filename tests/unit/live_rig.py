"""What the live avatar's unit tests share: the fakes around `LiveStreams` and a browser's steps."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.avatar.answer_voice import AnswerVoices
from core.avatar.live import LiveSettings, LiveStreams
from core.avatar.script import estimate_seconds
from core.avatar.speech import SpeechWriter
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import LiveStream
from core.limits import Limits
from core.types import ConversationKey
from tests.fakes.memory import (
    MemoryAvatarStreams,
    MemoryCounters,
    MemoryLivePage,
    MemoryPreferences,
)

KEY = ConversationKey("web", "conversation-1")
ANSWER = "Hi! I'm Ava, a friendly avatar. Ask me anything."
SDP = {"type": "answer", "sdp": "v=0 page"}
CANDIDATE = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}


class Voices:
    """Voices: a voice named after the language it is picked for."""

    def pick(self, language: str | None) -> str:
        return f"voice-{language}"


class WordDetector:
    """Detector: names the language of the first of its words a text holds, else None (unsure).

    Records what it was asked, as lingua's `LanguageDetector` would have been.
    """

    def __init__(self, words: dict[str, str] | None = None) -> None:
        self.words = {"Hi": "en", "Hello": "en"} if words is None else words
        self.asked: list[str] = []

    async def detect(self, text: str) -> str | None:
        self.asked.append(text)
        said = set(re.findall(r"\w+", text))
        return next((lang for word, lang in self.words.items() if word in said), None)


def answer_voices(
    detector: WordDetector | None = None, preferences: MemoryPreferences | None = None
) -> AnswerVoices:
    """The live path's language and voice: the clip path's `SpeechWriter`, the chat's `/voice`."""
    writer = SpeechWriter(detector=detector or WordDetector())
    return AnswerVoices(writer, Voices(), preferences or MemoryPreferences())


class Switch:
    """AvatarSwitch: on or off for every conversation; records which were asked about."""

    def __init__(self, on: bool = True) -> None:
        self.on = on
        self.asked: list[ConversationKey] = []

    async def avatar_enabled(self, key: ConversationKey) -> bool:
        self.asked.append(key)
        return self.on


async def until(condition: Callable[[], bool]) -> None:
    """Let the live tasks go on until `condition` holds (a bounded number of loop turns)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def turns(count: int = 50) -> None:
    """Let the live tasks go on for `count` loop turns (what is due at once has happened)."""
    for _ in range(count):
        await asyncio.sleep(0)


class LiveRig:
    """Builds the LiveStreams of a test on one fake service; `stop` stops every one it built."""

    def __init__(self, service: MemoryAvatarStreams, counters: MemoryCounters) -> None:
        self.service, self.counters = service, counters  # `service`: for the next `build`
        self._made: list[LiveStreams] = []

    def build(
        self, limits: Limits | None = None, *, budget: bool = True, **settings: Any
    ) -> LiveStreams:
        spent = StreamBudget(self.counters, limits or Limits()) if budget else None
        live = LiveStreams(
            self.service, settings=LiveSettings(**settings), voices=answer_voices(), budget=spent
        )
        self._made.append(live)
        return live

    async def stop(self) -> None:
        for live in self._made:
            await live.stop()


def streamed_ms(counters: MemoryCounters, scope: str = "web:ip-a") -> int:
    """The user's streamed milliseconds counted so far (by day: the month counts them again)."""
    return sum(
        n
        for (period, where, name), n in counters.counts.items()
        if name == "render_ms" and where == scope and not period.endswith("-month")
    )


def ms(sentence: str) -> int:
    """The milliseconds a sentence reserves."""
    return math.ceil(estimate_seconds(sentence) * 1000)


async def go_live(live: LiveStreams, page: MemoryLivePage) -> int:
    """Open the page's stream and connect it as a browser would; its number."""
    offered = len(page.offers)
    await live.open(page)
    await until(lambda: len(page.offers) > offered)
    number = page.offers[-1][0]
    live.answer(page, number, SDP)
    live.ice(page, number, (CANDIDATE,), done=True)
    await live.connection(page, number, connected=True)
    assert page.state == "live"
    return number


class SlowClosingStreams(MemoryAvatarStreams):
    """AvatarStreams whose close takes `close_turns` loop turns, as a request to D-ID does."""

    def __init__(self, close_turns: int = 200) -> None:
        super().__init__()
        self.close_turns = close_turns

    async def close(self, stream: LiveStream) -> None:
        await turns(self.close_turns)
        await super().close(stream)


@dataclass(eq=False)
class SocketLivePage(MemoryLivePage):
    """LivePage whose sends yield to the loop, as a websocket's do; records the ICE servers."""

    ice_servers: list[tuple[dict[str, Any], ...]] = field(default_factory=list)

    async def send_offer(
        self, stream: int, offer: dict[str, Any], ice_servers: tuple[dict[str, Any], ...]
    ) -> None:
        await asyncio.sleep(0)
        self.ice_servers.append(ice_servers)
        await super().send_offer(stream, offer, ice_servers)

    async def send_state(self, stream: int, state: str, line: str | None = None) -> None:
        await asyncio.sleep(0)
        await super().send_state(stream, state, line)


class SlowOpeningStreams(MemoryAvatarStreams):
    """AvatarStreams whose `create` waits until `opened` is set, as a slow D-ID does."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = asyncio.Event()

    async def create(self) -> LiveStream:
        await self.opened.wait()
        return await super().create()
