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

# /face (core/avatar/faces.py).
FACE_HOW = (
    "Send a photo with the caption /face (or reply /face to a photo) and the avatar takes that "
    "face in this chat; /face reset goes back to the default."
)
FACE_SET = "Done: the avatar has this face in this chat's next videos. /face reset undoes it."
FACE_RESET = "Back to the default face; your photo is deleted."
FACE_NONE_TO_RESET = "This chat already has the default face."
FACE_TOO_LARGE = "That photo is too large for the avatar: {size} at most."
FACE_UNAVAILABLE = "The avatar service isn't answering right now: send the photo again in a while."
# D-ID's refusals of a photo by the error kind it answers: `POST /images` (400
# InvalidImageResolutionError / InvalidFileSizeError / BadRequestError, 415
# UnsupportedMimeTypeError, 451 ImageModerationError / CelebrityRecognizedError) and a talk's
# asynchronous FaceError ("No valid face detected").
FACE_REFUSALS = {
    "InvalidImageResolutionError": (
        "That photo is too small for the avatar: send a larger one, with the face clearly visible."
    ),
    "InvalidFileSizeError": "That photo is too large for the avatar: 10 MB at most.",
    "UnsupportedMimeTypeError": "The avatar needs a JPEG or PNG photo.",
    "BadRequestError": "The avatar service couldn't read that photo: try a JPEG or PNG.",
    "ImageModerationError": "The avatar service declined that photo.",
    "CelebrityRecognizedError": (
        "The avatar service declined that photo: it looks like a celebrity."
    ),
    "FaceError": (
        "The avatar service found no face in the /face photo: send a clear, front-facing one "
        "with /face, or go back to the default with /face reset."
    ),
}

# /voice (core/avatar/voice_choice.py).
VOICE_LIST = "Voices for {language}:"
VOICE_LINE = "{number}. {voice}{mark}"
VOICE_NOW = "Now: {voice}. Pick one with /voice <name or number>, or /voice reset."
VOICE_DEFAULT = "the default for each answer's language"
VOICE_SET = "The avatar speaks as {voice} now; /voice reset goes back to the default."
VOICE_RESET = "The avatar speaks in the default voice for each answer's language again."
VOICE_UNKNOWN = "There's no voice called “{name}”: pick one of {names}."
