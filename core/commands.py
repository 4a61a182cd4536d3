"""Chat commands, for every platform: what each does and says, and the one list of them.

A platform decodes its command (a Telegram `/reply voice`, a Discord slash command, a line in
the terminal) into a `Command`, hands it to `ChatCommands.handle` and shows the `Reply`. From
`COMMANDS` it publishes its menu (Telegram's setMyCommands, Discord's command tree) and /help
is written, so every list says the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from core import messages
from core.avatar.faces import FaceCommand, Photo
from core.avatar.voice_choice import VoiceChoice
from core.conversation import Conversations
from core.errors import BadInputError
from core.i18n import DEFAULT_LOCALE, N_, Catalogs, Line, Lines, shipped_catalogs
from core.limits import user_scope
from core.personas import RESET, Personas
from core.ports import PreferenceStore
from core.types import REPLY_MODES, ConversationKey, ReplyMode
from core.usage import Usage, describe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Command:
    """A chat command as a platform received it: `/name args`, from whom, where."""

    key: ConversationKey
    user_id: str
    name: str
    args: str = ""
    locale: str | None = None  # the user's language tag where the platform tells it
    is_admin: bool = False  # the user is one of ADMIN_USER_IDS
    photo: Photo | None = None  # /face: downloads the photo that came with it
    photo_size: int | None = None  # its size in bytes, where the platform tells it first


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers; `private`: shown to its user alone where the platform can."""

    text: str
    private: bool = False


@dataclass(frozen=True, slots=True)
class Option:
    """A command's one argument, as a slash command's option (Discord) and in /help."""

    name: str
    description: str
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: its name, argument, one-line description, and where it is offered."""

    name: str
    description: str
    option: Option | None = None
    usage: str = ""  # the argument as /help shows it
    platforms: frozenset[str] | None = None  # None: every platform
    turn: bool = False  # the platform answers it as a message (/talk), not through `handle`
    # Carried out in its place among the conversation's messages, where a platform does not
    # run commands in that order already (Discord's slash commands).
    in_order: bool = False

    def offered_on(self, platform: str) -> bool:
        """Whether `platform` offers the command."""
        return self.platforms is None or platform in self.platforms


CHATS = frozenset({"telegram", "discord"})  # where a bot shares a chat with others
TERMINAL = frozenset({"terminal"})
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", N_("What this bot does"), platforms=frozenset({"telegram"})),
    CommandSpec("help", N_("What I understand")),
    CommandSpec(
        "talk",
        N_("Talk to me: text, or a voice note or audio file"),
        Option("text", N_("What to say")),
        usage="<text>",
        platforms=CHATS,
        turn=True,
    ),
    CommandSpec("reset", N_("Forget our conversation (the persona stays)"), in_order=True),
    CommandSpec(
        "avatar",
        N_("Videos with my answers: on or off"),
        Option("state", N_("on or off"), ("on", "off"), required=True),
        usage="on|off",
    ),
    CommandSpec(
        "reply",
        N_("How I answer: video, voice or text"),
        Option("mode", N_("video, voice or text"), REPLY_MODES),
        usage="video|voice|text",
    ),
    CommandSpec(
        "persona",
        N_("Who I play here: a persona's name, your own words, or reset"),
        Option("persona", N_("A persona's name, a short description, or reset")),
        usage="[name|text|reset]",
    ),
    CommandSpec(
        "face",
        N_("My face in this chat: a photo of yours (a face), or reset"),
        Option("reset", N_("reset: back to the default face")),
        usage="[reset]",
        platforms=CHATS | {"web"},  # the web page picks the photo with its face button
        in_order=True,
    ),
    CommandSpec(
        "voice",
        N_("My voice in this chat: list the voices, or pick one"),
        Option("voice", N_("A voice's name or number from the list, or reset")),
        usage="[name|number|reset]",
        # Every platform: the terminal's /voice also takes the path of an audio file to send
        # (bot/terminal.py).
    ),
    CommandSpec("usage", N_("Your videos, voice answers and tokens, today and this month")),
    CommandSpec("stats", N_("Today's usage of the whole bot (admins only)")),
    # The terminal chat's own: leaving.
    CommandSpec("quit", N_("Leave the chat"), platforms=TERMINAL, turn=True),
)
SPECS = {spec.name: spec for spec in COMMANDS}


def spec_of(name: str, platform: str) -> CommandSpec | None:
    """Return the command `name` as `platform` offers it (a name may differ by platform)."""
    return next((s for s in COMMANDS if s.name == name and s.offered_on(platform)), None)


def offered(platform: str) -> list[CommandSpec]:
    """Return the commands `platform` offers, in menu order."""
    return [spec for spec in COMMANDS if spec.offered_on(platform)]


def help_text(platform: str, lines: Lines | None = None) -> str:
    """/help: how to talk to the bot on `platform`, then every command it offers there.

    In `lines`' language (English without).
    """
    lines = lines or shipped_catalogs().lines(DEFAULT_LOCALE)
    intro = lines.gettext(messages.HELP_INTRO.get(platform, messages.HELP_INTRO_OTHER))
    menu = [
        messages.HELP_LINE.format(
            name=spec.name,
            args=f" {spec.usage}" if spec.usage else "",
            description=lines.gettext(spec.description),
        )
        for spec in offered(platform)
        if spec.name not in ("start", "help")
    ]
    return "\n\n".join([intro, "\n".join(menu)])


Handler = Callable[["ChatCommands", Command], Awaitable[Reply]]


class ChatCommands:
    """Carries out chat commands on the core; bad arguments get one line, and are logged."""

    def __init__(
        self,
        conversations: Conversations,
        preferences: PreferenceStore,
        personas: Personas,
        usage: Usage,
        *,
        voice_available: bool = False,
        catalogs: Catalogs | None = None,
        faces: FaceCommand | None = None,
        voices: VoiceChoice | None = None,
    ) -> None:
        self._catalogs = catalogs or shipped_catalogs()
        self._conversations, self._preferences = conversations, preferences
        self._personas, self._usage = personas, usage
        self._voice = voice_available  # voice answers (Groq TTS) are set up
        self._faces, self._voices = faces or FaceCommand(None), voices

    async def handle(self, command: Command) -> Reply:
        """Carry out `command`; a failure of ours is one line for the user, with the log.

        The reply is said in the command's locale (English for one not shipped).
        """
        reply = await self._carry_out(command)
        return replace(reply, text=self.lines(command).say(reply.text))

    def lines(self, command: Command) -> Lines:
        """Return the bot's lines in the language of the command's user."""
        return self._catalogs.lines(self._catalogs.choose([command.locale]))

    async def _carry_out(self, command: Command) -> Reply:
        handler = _HANDLERS.get(command.name)
        if handler is None or spec_of(command.name, command.key.platform) is None:
            return Reply(Line(messages.UNKNOWN))
        try:
            return await handler(self, command)
        except BadInputError as error:
            log.info("/%s in %s refused: %s", command.name, command.key, error.detail)
            return Reply(error.message)
        except Exception:
            log.exception("/%s in %s failed", command.name, command.key)
            return Reply(Line(messages.OOPS))

    async def start(self, command: Command) -> Reply:
        """/start: what the bot does."""
        return Reply(Line(messages.GREETING))

    async def help(self, command: Command) -> Reply:
        """/help: how to talk to the bot here, and its commands."""
        return Reply(help_text(command.key.platform, self.lines(command)), private=True)

    async def talk(self, command: Command) -> Reply:
        """/talk with nothing to talk about (one with something is a message)."""
        return Reply(Line(messages.TALK_USAGE))

    async def reset(self, command: Command) -> Reply:
        """/reset: forget the conversation's history; its persona and choices stay."""
        await self._conversations.reset(command.key)
        return Reply(Line(messages.RESET_DONE))

    async def avatar(self, command: Command) -> Reply:
        """/avatar on|off: switch videos for the chat."""
        choice = command.args.strip().lower()
        if choice not in ("on", "off"):
            raise BadInputError(Line(messages.AVATAR_USAGE))
        if not self._conversations.avatar_available:
            return Reply(Line(messages.AVATAR_UNAVAILABLE))
        await self._conversations.set_avatar(command.key, choice == "on")
        return Reply(Line(messages.AVATAR_SWITCHED[choice]))

    async def reply(self, command: Command) -> Reply:
        """/reply video|voice|text: how the chat's answers come; alone, shows it."""
        choice = command.args.strip().lower()
        available = self.reply_modes()
        if not choice:
            current = await self._conversations.reply_mode(command.key)
            shown = Line(messages.REPLY_MODE_NAMES[current])
            return Reply(Line(messages.REPLY_SHOWN, mode=shown, modes="|".join(available)))
        mode = _reply_mode(choice)
        if mode is None:
            names = [Line(messages.REPLY_MODE_NAMES[m]) for m in available]
            text = Line(messages.REPLY_UNKNOWN, modes=names, choices="|".join(available))
            raise BadInputError(text)
        if mode not in available:
            return Reply(Line(messages.REPLY_UNAVAILABLE[mode]))
        await self._preferences.set_reply_mode(command.key, mode)
        if mode == "video":  # asking for videos switches them on
            await self._conversations.set_avatar(command.key, True)
        return Reply(Line(messages.REPLY_SET, mode=Line(messages.REPLY_MODE_NAMES[mode])))

    def reply_modes(self) -> list[ReplyMode]:
        """Return the reply modes the bot can deliver: text, video with D-ID, voice with TTS."""
        ready = {"video": self._conversations.avatar_available, "voice": self._voice}
        return [mode for mode in REPLY_MODES if ready.get(mode, True)]

    async def persona(self, command: Command) -> Reply:
        """/persona [name|text|reset]: who the bot plays in the chat; alone, shows it."""
        text = command.args.strip()
        if not text:
            stored = await self._preferences.persona(command.key)
            return Reply(self._personas.describe(stored))
        if text.lower() == RESET:
            await self._preferences.set_persona(command.key, None)
            return Reply(Line(messages.PERSONA_RESET))
        chosen = self._personas.choose(text)
        await self._preferences.set_persona(command.key, chosen)
        return Reply(Line(messages.PERSONA_SET, persona=self._personas.shown(chosen)))

    async def face(self, command: Command) -> Reply:
        """/face with a photo: the avatar's face in the chat; /face reset; alone, how to."""
        if command.key.platform == "web" and not command.args.strip():
            return Reply(Line(messages.FACE_HOW_WEB))  # its photo comes by the face button
        line = await self._faces.handle(
            command.key, command.args, command.photo, command.photo_size
        )
        return Reply(line)

    async def voice(self, command: Command) -> Reply:
        """/voice [name|number|reset]: the voices for the user's language, or pick one."""
        if self._voices is None:
            return Reply(messages.AVATAR_UNAVAILABLE)
        return Reply(await self._voices.handle(command.key, command.args, command.locale))

    async def usage(self, command: Command) -> Reply:
        """/usage: the user's own videos, voice answers and tokens, today and this month."""
        report = await self._usage.report(user_scope(command.key, command.user_id))
        return Reply(describe(report), private=True)

    async def stats(self, command: Command) -> Reply:
        """/stats: today's usage of the whole bot, for ADMIN_USER_IDS only."""
        if not command.is_admin:
            return Reply(Line(messages.ADMINS_ONLY, name=command.name))
        return Reply(await self._conversations.stats(), private=True)


def _reply_mode(choice: str) -> ReplyMode | None:
    for mode in REPLY_MODES:
        if choice == mode:
            return mode
    return None


_HANDLERS: dict[str, Handler] = {
    "start": ChatCommands.start,
    "help": ChatCommands.help,
    "talk": ChatCommands.talk,
    "reset": ChatCommands.reset,
    "avatar": ChatCommands.avatar,
    "reply": ChatCommands.reply,
    "persona": ChatCommands.persona,
    "face": ChatCommands.face,
    "voice": ChatCommands.voice,
    "usage": ChatCommands.usage,
    "stats": ChatCommands.stats,
}
