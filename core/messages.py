"""The bot's own lines for chat commands, in one place (to be wrapped for translation).

Each line is a plain `str` constant or a `str.format` template whose fields are named; the
command layer (core/commands.py) fills them in. Platforms show them as they are.
"""

from __future__ import annotations

GREETING = (
    "Hi! I'm a talking avatar. Send me a message or a voice note: I answer in text right away "
    "and then send a short video of me saying it.\n\n/help lists what I understand."
)
# The first lines of /help: how to talk to the bot where it is asked; the command list follows.
HELP_INTRO = {
    "telegram": (
        "Send text or a voice note (audio files and round videos work too).\n"
        "In groups, mention me, reply to me, or use /talk <text>."
    ),
    "discord": (
        "Talk to me with `/talk` (text, or an audio file), by mentioning me, by replying to me, "
        "or in a DM — voice messages work too. I answer in text right away, then with a short "
        "video."
    ),
    "web": "Type a message or record a voice note; commands start with /.",
    "terminal": "Type a message and press Enter; /voice PATH sends an audio file.",
}
HELP_INTRO_OTHER = "Send me a message or a voice note and I'll answer."
HELP_LINE = "/{name}{args} — {description}"

UNKNOWN = "I don't know that command. /help lists what I understand."
OOPS = "Something went wrong on my side — please try again."
TALK_USAGE = "Use /talk <text>, or reply /talk to a voice note."

RESET_DONE = "Done — I've forgotten our conversation."

AVATAR_USAGE = "Use /avatar on or /avatar off."
AVATAR_UNAVAILABLE = "Avatar videos aren't set up on this bot."
AVATAR_SWITCHED = "Avatar videos are {state} for this chat."

ADMINS_ONLY = "Only the bot's admins can use /{name}."

PERSONA_DEFAULT = "I'm using my default persona here. Set one with /persona <text>{names}."
PERSONA_NAMES = " or one of: {names}"
PERSONA_NAMED = "My persona here is “{name}”: {prompt}"
PERSONA_FREE = "My persona here: {persona}"
PERSONA_SET = "Done — from now on my persona here is: {persona}"
PERSONA_RESET = "Done — I'm back to my default persona here."
PERSONA_TOO_LONG = "That persona is too long: please keep it under {limit:,} characters."
PERSONA_UNKNOWN = "I don't know the persona “{name}”. {choices}"
PERSONA_CHOICES = "Pick one of: {names}, or describe one in a few words."
PERSONA_DESCRIBE = "Describe the persona in a few words: /persona <text>."

REPLY_SHOWN = "I answer here with {mode}. Change it with /reply {modes}."
REPLY_SET = "Done — I answer here with {mode} from now on."
REPLY_UNKNOWN = "I can answer with {modes}: use /reply {choices}."
REPLY_UNAVAILABLE = "{mode} answers aren't set up on this bot."
# How each reply mode is named in a sentence ("I answer here with …").
REPLY_MODE_NAMES = {
    "video": "text and a talking-avatar video",
    "voice": "text and a voice note",
    "text": "text only",
}
REPLY_MODE_TITLES = {"video": "Video", "voice": "Voice", "text": "Text"}

USAGE = "Your usage today (UTC): {today}.\nThis month: {month}."
USAGE_PART = (
    "{videos} videos ({seconds:.0f} s of video), {voice} voice answers, {tokens:,} LLM tokens"
)

STATS = (
    "Today (UTC): {messages} messages, {renders} videos of {seconds:.1f} s in all "
    "(≈ {credits} D-ID credits), {errors} errors, {refusals} refused over limits; "
    "{rendering} videos rendering now."
)
