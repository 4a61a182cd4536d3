"""The core's chat commands driven directly, on in-memory fakes: what each does and says."""

from __future__ import annotations

import datetime as dt

import pytest

from core import messages
from core.avatar.faces import FaceCommand, Faces
from core.avatar.voice_choice import VoiceCatalogue, VoiceChoice
from core.commands import COMMANDS, ChatCommands, Command, Reply, help_text, offered
from core.conversation import Conversations
from core.i18n import shipped_catalogs
from core.limits import Limits
from core.personas import PERSONA_PROMPT, Personas
from core.prompts import ConversationSettings
from core.quota import Quotas
from core.types import ConversationKey, FinalText, Turn
from core.usage import VOICE_ANSWERS, Usage
from tests.fakes.images import make_jpeg
from tests.fakes.memory import (
    MemoryCounters,
    MemoryFaces,
    MemoryHistory,
    MemoryPreferences,
    MemoryUploader,
    ScriptedModel,
)

KEY = ConversationKey("telegram", "c1")
TOPIC = ConversationKey("telegram", "c1", "7")
BASE = "Be brief."
PIRATE = "You are a cheerful pirate."
NOW = dt.datetime(2026, 12, 15, 12, 0, tzinfo=dt.UTC)
CATALOGUE = VoiceCatalogue(fallback="en-US-JennyNeural")


class Rig:
    def __init__(
        self,
        *,
        voice: bool = False,
        faces: FaceCommand | None = None,
        voices: bool = False,
    ) -> None:
        self.model, self.history = ScriptedModel(), MemoryHistory()
        self.preferences, self.counters = MemoryPreferences(), MemoryCounters()
        self.personas = Personas(BASE, {"Pirate": PIRATE}, max_chars=60)
        self.usage = Usage(self.counters, clock=lambda: NOW)
        self.quotas = Quotas(self.counters, Limits(), clock=lambda: NOW)
        self.conversations = Conversations(
            settings=ConversationSettings(system_prompt=BASE),
            history=self.history,
            preferences=self.preferences,
            model=self.model,
            transcriber=None,
            jobs=None,
            quotas=self.quotas,
            personas=self.personas,
            usage=self.usage,
        )
        self.commands = ChatCommands(
            self.conversations,
            self.preferences,
            self.personas,
            self.usage,
            voice_available=voice,
            faces=faces,
            voices=VoiceChoice(self.preferences, CATALOGUE) if voices else None,
        )

    async def say(self, name: str, args: str = "", *, key: ConversationKey = KEY) -> str:
        return (await self.commands.handle(Command(key, "u1", name, args))).text

    async def ask(self, text: str, *, key: ConversationKey = KEY) -> str:
        events = [event async for event in self.conversations.handle(Turn(key, "u1", text))]
        final = events[-1]
        assert isinstance(final, FinalText), events
        return final.text

    def system_prompt(self) -> str:
        first = self.model.prompts[-1][0]
        assert first.role == "system"
        return first.content


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_help_and_menus_come_from_the_one_list() -> None:
    for platform in ("telegram", "discord", "web", "terminal"):
        text = help_text(platform)
        for spec in offered(platform):
            if spec.name not in ("start", "help"):
                assert f"/{spec.name}" in text and spec.description in text
    names = [spec.name for spec in offered("telegram")]
    assert {"persona", "reply", "usage", "start", "talk"} <= set(names)
    assert "talk" not in [spec.name for spec in offered("web")]
    assert len({spec.name for spec in COMMANDS}) == len(COMMANDS)


async def test_unknown_commands_and_ones_not_offered_get_one_line(rig: Rig) -> None:
    assert await rig.say("frobnicate") == messages.UNKNOWN
    web = ConversationKey("web", "c1")
    assert (await rig.commands.handle(Command(web, "u1", "talk"))).text == messages.UNKNOWN


async def test_persona_free_text_is_added_after_the_system_prompt_and_kept_by_reset(
    rig: Rig,
) -> None:
    assert "default persona" in await rig.say("persona")
    assert await rig.say("persona", "  a   grumpy  librarian ") == messages.PERSONA_SET.format(
        persona="a grumpy librarian"
    )
    await rig.ask("Hello")
    expected = PERSONA_PROMPT.format(base=BASE, persona="a grumpy librarian")
    assert rig.system_prompt() == expected
    assert rig.system_prompt().startswith(BASE)
    assert await rig.say("reset") == messages.RESET_DONE
    await rig.ask("Again", key=TOPIC)  # the chat's topics share its persona
    assert rig.system_prompt() == expected
    assert rig.history.messages.get(KEY) is None  # the history went, the persona stayed
    assert await rig.say("persona") == messages.PERSONA_FREE.format(persona="a grumpy librarian")


async def test_persona_by_name_and_reset(rig: Rig) -> None:
    assert "“pirate”" in await rig.say("persona", "PIRATE")
    await rig.ask("Ahoy")
    assert rig.system_prompt() == PERSONA_PROMPT.format(base=BASE, persona=PIRATE)
    assert PIRATE in await rig.say("persona")
    assert await rig.say("persona", "reset") == messages.PERSONA_RESET
    await rig.ask("Hello")
    assert rig.system_prompt() == BASE


async def test_bad_personas_get_one_line_and_change_nothing(rig: Rig) -> None:
    await rig.say("persona", "pirate")
    too_long = await rig.say("persona", "word " * 20)
    assert too_long == messages.PERSONA_TOO_LONG.format(limit=60)
    unknown = await rig.say("persona", "ninja")
    assert unknown.startswith("I don't know the persona “ninja”") and "pirate" in unknown
    assert await rig.preferences.persona(KEY) == "pirate"


async def test_a_persona_dropped_from_personas_falls_back_to_the_default(rig: Rig) -> None:
    await rig.preferences.set_persona(KEY, "retired")
    await rig.ask("Hello")
    assert rig.system_prompt() == BASE


async def test_reply_mode_defaults_to_text_without_d_id_and_refuses_what_is_not_set_up(
    rig: Rig,
) -> None:
    assert rig.conversations.default_reply_mode == "text"
    assert "text only" in await rig.say("reply")
    assert await rig.say("reply", "video") == messages.REPLY_UNAVAILABLE["video"]
    assert await rig.say("reply", "voice") == messages.REPLY_UNAVAILABLE["voice"]
    assert await rig.say("reply", "loud") == messages.REPLY_UNKNOWN.format(
        modes="text only", choices="text"
    )
    assert await rig.preferences.reply_mode(KEY) is None


async def test_reply_voice_is_kept_where_voice_answers_are_set_up() -> None:
    rig = Rig(voice=True)
    assert await rig.say("reply", "Voice") == messages.REPLY_SET.format(
        mode=messages.REPLY_MODE_NAMES["voice"]
    )
    assert await rig.preferences.reply_mode(TOPIC) == "voice"
    assert await rig.conversations.reply_mode(KEY) == "voice"
    assert "voice note" in await rig.say("reply")


async def test_usage_counts_the_users_tokens_videos_and_voice_answers(rig: Rig) -> None:
    rig.model.reply = "One two three."
    await rig.ask("Hello there")
    scope = "telegram:u1"
    await rig.usage.record(scope, VOICE_ANSWERS)
    reservation = await rig.quotas.reserve_render(scope, 12.5)
    assert not isinstance(reservation, str)
    # The fake model counts a word a token: "Be brief." + "Hello there" in, three words out.
    tokens = 2 + 2 + 3
    part = messages.USAGE_PART.format(videos=1, seconds=12, voice=1, tokens=tokens)
    reply = await rig.commands.handle(Command(KEY, "u1", "usage"))
    assert reply.text == messages.USAGE.format(today=part, month=part)
    assert reply.private
    other = await rig.say("usage", key=ConversationKey("telegram", "c2"))  # the same user
    assert other == reply.text
    someone = (await rig.commands.handle(Command(KEY, "u2", "usage"))).text
    zero = messages.USAGE_PART.format(videos=0, seconds=0, voice=0, tokens=0)
    assert someone == messages.USAGE.format(today=zero, month=zero)


async def test_stats_only_for_admins(rig: Rig) -> None:
    assert await rig.say("stats") == messages.ADMINS_ONLY.format(name="stats")
    admin = await rig.commands.handle(Command(KEY, "u1", "stats", is_admin=True))
    assert admin.text.startswith("Today (UTC):") and admin.private


async def test_avatar_without_d_id_and_with_bad_arguments(rig: Rig) -> None:
    assert await rig.say("avatar", "maybe") == messages.AVATAR_USAGE
    assert await rig.say("avatar", "on") == messages.AVATAR_UNAVAILABLE
    assert await rig.say("talk") == messages.TALK_USAGE
    assert rig.model.prompts == []  # nothing reached the model


async def test_the_avatar_switch_and_the_reply_mode_agree(rig: Rig) -> None:
    await rig.preferences.set_reply_mode(KEY, "text")
    await rig.conversations.set_avatar(KEY, True)  # switching videos on undoes "text only"
    assert await rig.preferences.reply_mode(KEY) == "video"
    await rig.conversations.set_avatar(KEY, False)
    assert await rig.preferences.reply_mode(KEY) == "video"
    assert await rig.conversations.reply_mode(KEY) == "text"  # no D-ID here: never video


async def test_start_greets(rig: Rig) -> None:
    assert await rig.say("start") == messages.GREETING


@pytest.mark.parametrize("platform", ["telegram", "web"])
async def test_help_is_private_for_the_platform_in_the_users_language(
    rig: Rig, platform: str
) -> None:
    key = ConversationKey(platform, "c1")
    reply = await rig.commands.handle(Command(key, "u1", "help", locale="de"))
    german = help_text(platform, shipped_catalogs().lines("de"))
    assert reply == Reply(german, private=True)
    assert german != help_text(platform)
    assert (await rig.commands.handle(Command(key, "u1", "help"))).text == help_text(platform)


def face_rig() -> tuple[Rig, MemoryFaces, Faces]:
    store = MemoryFaces()
    faces = Faces(store, MemoryUploader())
    return Rig(faces=FaceCommand(faces)), store, faces


async def photo() -> bytes:
    return make_jpeg()


async def test_face_sets_the_chats_face_from_its_photo_and_resets_it() -> None:
    rig, store, faces = face_rig()
    done = await rig.commands.handle(Command(KEY, "u1", "face", photo=photo, photo_size=900))
    assert done.text == messages.FACE_SET
    assert store.faces[("telegram", "c1")].image == make_jpeg()
    assert await rig.say("face") == messages.FACE_HOW  # no photo with it
    assert await rig.say("face", " Reset ") == messages.FACE_RESET
    assert store.faces == {}


async def test_a_photo_too_big_for_a_face_is_refused_before_it_is_downloaded() -> None:
    rig, store, faces = face_rig()

    async def never() -> bytes:
        raise AssertionError("downloaded")

    big = Command(KEY, "u1", "face", photo=never, photo_size=50_000_000)
    assert (
        await rig.commands.handle(big)
    ).text == "That photo is too large for the avatar: 10 MB at most."
    assert store.faces == {}


async def test_face_on_the_web_page_is_its_face_button_or_reset() -> None:
    rig, store, faces = face_rig()
    web = ConversationKey("web", "c1")
    alone = await rig.commands.handle(Command(web, "u1", "face", photo=photo))
    assert alone.text == messages.FACE_HOW_WEB
    assert store.faces == {}
    await faces.set(web, make_jpeg())  # as the face button does
    assert await rig.say("face", "reset", key=web) == messages.FACE_RESET
    assert store.faces == {}


async def test_face_and_voice_without_d_id_say_so(rig: Rig) -> None:
    assert await rig.say("face") == messages.AVATAR_UNAVAILABLE
    assert await rig.say("voice") == messages.AVATAR_UNAVAILABLE


async def test_voice_lists_in_the_users_language_and_picks_for_the_chat() -> None:
    rig = Rig(voices=True)
    own = MemoryPreferences()
    alone = VoiceChoice(own, CATALOGUE)  # what /voice says on its own
    listed = await rig.commands.handle(Command(KEY, "u1", "voice", locale="es"))
    spanish = await alone.handle(KEY, "", "es")
    assert listed.text == rig.commands.lines(Command(KEY, "u1", "voice", locale="es")).say(spanish)
    assert listed.text != await alone.handle(KEY, "", None)
    assert await rig.say("voice", "2", key=TOPIC) == await alone.handle(TOPIC, "2", None)
    assert await rig.preferences.voice_id(KEY) == await own.voice_id(KEY)
    assert await rig.preferences.voice_id(KEY) is not None


def test_help_on_the_terminal_reads_as_it_should() -> None:
    assert help_text("terminal") == (
        "Type a message and press Enter; /voice PATH sends an audio file.\n\n"
        "/reset — Forget our conversation (the persona stays)\n"
        "/avatar on|off — Videos with my answers: on or off\n"
        "/reply video|voice|text — How I answer: video, voice or text\n"
        "/persona [name|text|reset] — Who I play here: a persona's name, your own words, or reset\n"
        "/voice [name|number|reset] — My voice in this chat: list the voices, or pick one\n"
        "/usage — Your videos, voice answers and tokens, today and this month\n"
        "/stats — Today's usage of the whole bot (admins only)\n"
        "/quit — Leave the chat"
    )
    assert help_text("elsewhere").startswith(messages.HELP_INTRO_OTHER + "\n\n/reset — ")
    telegram = help_text("telegram")  # /start and /help offered, but not listed by /help
    assert "/talk <text> — " in telegram and "/start" not in telegram and "/help" not in telegram


async def test_a_reply_is_said_in_the_users_language(rig: Rig) -> None:
    german = await rig.commands.handle(Command(KEY, "u1", "reset", locale="de-DE"))
    assert german.text == shipped_catalogs().lines("de").gettext(messages.RESET_DONE)
    assert german.text != messages.RESET_DONE


class BrokenPreferences(MemoryPreferences):
    async def persona(self, key: ConversationKey) -> str | None:
        raise ConnectionError("database gone")


async def test_a_command_that_crashes_is_one_line(rig: Rig) -> None:
    commands = ChatCommands(rig.conversations, BrokenPreferences(), rig.personas, rig.usage)
    assert (await commands.handle(Command(KEY, "u1", "persona"))).text == messages.OOPS
