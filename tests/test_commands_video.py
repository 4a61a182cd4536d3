"""/avatar and /reply where avatar videos are set up: the chat commands on the real avatar
jobs (SQLite, a scripted renderer: the rig of test_avatar_job_runs), the rest on memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core import messages
from core.commands import ChatCommands, Command
from core.conversation import Conversations
from core.personas import Personas
from core.prompts import ConversationSettings
from core.types import ConversationKey
from core.usage import Usage
from tests.fakes.memory import MemoryCounters, MemoryHistory, MemoryPreferences, ScriptedModel
from tests.test_avatar_job_runs import Rig, job_rig

KEY = ConversationKey("telegram", "c1")
TOPIC = ConversationKey("telegram", "c1", "7")


class Chat:
    def __init__(self, rig: Rig, *, voice: bool, avatar_default: bool = True) -> None:
        self.preferences = MemoryPreferences()
        self.conversations = Conversations(
            settings=ConversationSettings(system_prompt="Be brief.", avatar_default=avatar_default),
            history=MemoryHistory(),
            preferences=self.preferences,
            model=ScriptedModel(),
            transcriber=None,
            jobs=rig.jobs,
        )
        self.commands = ChatCommands(
            self.conversations,
            self.preferences,
            Personas("Be brief."),
            Usage(MemoryCounters()),
            voice_available=voice,
        )

    async def say(self, name: str, args: str = "", key: ConversationKey = KEY) -> str:
        return (await self.commands.handle(Command(key, "u1", name, args))).text


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with job_rig(tmp_path) as opened:
        yield opened


async def test_avatar_switches_the_chats_videos_off_and_on(rig: Rig) -> None:
    chat = Chat(rig, voice=False)
    assert await chat.say("avatar", " OFF ") == messages.AVATAR_SWITCHED["off"]
    assert not await chat.conversations.avatar_enabled(TOPIC)  # the chat's topics share it
    assert await chat.conversations.reply_mode(KEY) == "text"
    assert await chat.conversations.avatar_enabled(ConversationKey("telegram", "c2"))
    assert await chat.say("avatar", "on") == messages.AVATAR_SWITCHED["on"]
    assert await chat.conversations.avatar_enabled(KEY)
    assert await chat.conversations.reply_mode(KEY) == "video"


async def test_reply_shows_and_sets_the_mode_from_those_set_up(rig: Rig) -> None:
    chat = Chat(rig, voice=False)
    assert chat.commands.reply_modes() == ["video", "text"]
    video = messages.REPLY_MODE_NAMES["video"]
    assert await chat.say("reply") == messages.REPLY_SHOWN.format(mode=video, modes="video|text")
    assert await chat.say("reply", "voice") == messages.REPLY_UNAVAILABLE["voice"]
    assert await chat.say("reply", "TEXT") == messages.REPLY_SET.format(
        mode=messages.REPLY_MODE_NAMES["text"]
    )
    assert await chat.conversations.reply_mode(KEY) == "text"
    assert await chat.conversations.avatar_enabled(KEY)  # text answers leave the switch alone


@pytest.mark.parametrize("avatar_default", [True, False], ids=["videos-on", "videos-off"])
async def test_reply_video_switches_videos_back_on(rig: Rig, avatar_default: bool) -> None:
    chat = Chat(rig, voice=True, avatar_default=avatar_default)
    assert chat.commands.reply_modes() == ["video", "voice", "text"]
    await chat.say("avatar", "off")
    assert await chat.say("reply", "video") == messages.REPLY_SET.format(
        mode=messages.REPLY_MODE_NAMES["video"]
    )
    assert await chat.conversations.avatar_enabled(KEY)
    assert await chat.conversations.reply_mode(KEY) == "video"
    assert await chat.say("reply", "loud") == messages.REPLY_UNKNOWN.format(
        modes=", ".join(messages.REPLY_MODE_NAMES[m] for m in ("video", "voice", "text")),
        choices="video|voice|text",
    )
