"""The bot's own lines for chat commands, in one place, marked for translation (core/i18n.py).

Each line is an English message id (`N_`); a line with `{fields}` is filled in as a `Line`
(`Line(messages.REPLY_SET, mode=...)`), so the command layer can say it in the user's
language. Numbers in fields are written by Babel as that language writes them.
"""

from __future__ import annotations

from core.i18n import N_

GREETING = N_(
    "Hi! I'm a talking avatar. Send me a message or a voice note: I answer in text right away "
    "and then send a short video of me saying it.\n\n/help lists what I understand."
)
# The first lines of /help: how to talk to the bot where it is asked; the command list follows.
HELP_INTRO = {
    "telegram": N_(
        "Send text or a voice note (audio files and round videos work too).\n"
        "In groups, mention me, reply to me, or use /talk <text>."
    ),
    "discord": N_(
        "Talk to me with `/talk` (text, or an audio file), by mentioning me, by replying to me, "
        "or in a DM — voice messages work too. I answer in text right away, then with a short "
        "video."
    ),
    "web": N_("Type a message or record a voice note; commands start with /."),
    "terminal": N_("Type a message and press Enter; /voice PATH sends an audio file."),
}
HELP_INTRO_OTHER = N_("Send me a message or a voice note and I'll answer.")
HELP_LINE = "/{name}{args} — {description}"  # no words of its own: not translated

UNKNOWN = N_("I don't know that command. /help lists what I understand.")
OOPS = N_("Something went wrong on my side — please try again.")
TALK_USAGE = N_("Use /talk <text>, or reply /talk to a voice note.")

RESET_DONE = N_("Done — I've forgotten our conversation.")

AVATAR_USAGE = N_("Use /avatar on or /avatar off.")
AVATAR_UNAVAILABLE = N_("Avatar videos aren't set up on this bot.")
# Whole sentences per state: "on" and "off" are no words a translation can take in.
AVATAR_SWITCHED = {
    "on": N_("Avatar videos are on for this chat."),
    "off": N_("Avatar videos are off for this chat."),
}

ADMINS_ONLY = N_("Only the bot's admins can use /{name}.")

PERSONA_DEFAULT = N_("I'm using my default persona here. Set one with /persona <text>{names}.")
PERSONA_NAMES = N_(" or one of: {names}")
PERSONA_NAMED = N_("My persona here is “{name}”: {prompt}")
PERSONA_FREE = N_("My persona here: {persona}")
PERSONA_SET = N_("Done — from now on my persona here is: {persona}")
PERSONA_RESET = N_("Done — I'm back to my default persona here.")
PERSONA_TOO_LONG = N_("That persona is too long: please keep it under {limit} characters.")
PERSONA_UNKNOWN = N_("I don't know the persona “{name}”. {choices}")
PERSONA_CHOICES = N_("Pick one of: {names}, or describe one in a few words.")
PERSONA_DESCRIBE = N_("Describe the persona in a few words: /persona <text>.")

REPLY_SHOWN = N_("I answer here with {mode}. Change it with /reply {modes}.")
REPLY_SET = N_("Done — I answer here with {mode} from now on.")
REPLY_UNKNOWN = N_("I can answer with {modes}: use /reply {choices}.")
# Whole sentences per mode that may be missing (text answers always work).
REPLY_UNAVAILABLE = {
    "video": N_("Video answers aren't set up on this bot."),
    "voice": N_("Voice answers aren't set up on this bot."),
    "text": N_("Text answers aren't set up on this bot."),
}
# How each reply mode is named in a sentence ("I answer here with …").
REPLY_MODE_NAMES = {
    "video": N_("text and a talking-avatar video"),
    "voice": N_("text and a voice note"),
    "text": N_("text only"),
}

USAGE = N_("Your usage today (UTC): {today}.\nThis month: {month}.")
USAGE_PART = N_(
    "{videos} videos ({seconds} s of video), {voice} voice answers, {tokens} LLM tokens"
)

STATS = N_(
    "Today (UTC): {messages} messages, {renders} videos of {seconds} s in all "
    "(≈ {credits} D-ID credits), {errors} errors, {refusals} refused over limits; "
    "{rendering} videos rendering now."
)
# /stats with MESSAGES_DAILY_LIMIT_TOTAL set: the line above and the day's model answers.
STATS_ANSWERS = N_("{stats}\nModel answers today: {answered} of {limit}.")

# /face (core/avatar/faces.py).
FACE_HOW = N_(
    "Send a photo with the caption /face (or reply /face to a photo) and the avatar takes that "
    "face in this chat; /face reset goes back to the default."
)
FACE_HOW_WEB = N_(
    "Pick a photo with the face button beside the photo button and the avatar takes that face "
    "here; /face reset goes back to the default."
)
FACE_SET = N_("Done: the avatar has this face in this chat's next videos. /face reset undoes it.")
FACE_RESET = N_("Back to the default face; your photo is deleted.")
FACE_NONE_TO_RESET = N_("This chat already has the default face.")
FACE_TOO_LARGE = N_("That photo is too large for the avatar: {size} at most.")
FACE_UNAVAILABLE = N_(
    "The avatar service isn't answering right now: send the photo again in a while."
)
# D-ID's refusals of a photo by the error kind it answers: `POST /images` (400
# InvalidImageResolutionError / InvalidFileSizeError / BadRequestError, 415
# UnsupportedMimeTypeError, 451 ImageModerationError / CelebrityRecognizedError) and a talk's
# asynchronous FaceError ("No valid face detected").
FACE_REFUSALS = {
    "InvalidImageResolutionError": N_(
        "That photo is too small for the avatar: send a larger one, with the face clearly visible."
    ),
    "InvalidFileSizeError": N_("That photo is too large for the avatar: 10 MB at most."),
    "UnsupportedMimeTypeError": N_("The avatar needs a JPEG or PNG photo."),
    "BadRequestError": N_("The avatar service couldn't read that photo: try a JPEG or PNG."),
    "ImageModerationError": N_("The avatar service declined that photo."),
    "CelebrityRecognizedError": N_(
        "The avatar service declined that photo: it looks like a celebrity."
    ),
    "FaceError": N_(
        "The avatar service found no face in the /face photo: send a clear, front-facing one "
        "with /face, or go back to the default with /face reset."
    ),
}

# /voice (core/avatar/voice_choice.py). `{voices}` is the numbered list of voice names.
VOICE_LIST = N_(
    "Voices for {language}:\n{voices}\n"
    "Now: {voice}. Pick one with /voice <name or number>, or /voice reset."
)
VOICE_LINE = "{number}. {voice}{mark}"  # no words of its own: not translated
VOICE_DEFAULT = N_("the default for each answer's language")
VOICE_SET = N_("The avatar speaks as {voice} now; /voice reset goes back to the default.")
VOICE_RESET = N_("The avatar speaks in the default voice for each answer's language again.")
VOICE_UNKNOWN = N_("There's no voice called “{name}”: pick one of {names}.")
