-- What a chat chose besides the avatar switch (NULL: never chosen, the bot's default applies):
-- its persona (free text, or the name of one of PERSONAS), how answers come (/reply) and the
-- D-ID voice that speaks them (/voice). The face a chat brings (/face) gets its own columns.
ALTER TABLE chat_preferences ADD COLUMN persona TEXT;
ALTER TABLE chat_preferences ADD COLUMN reply_mode TEXT CHECK (reply_mode IN ('video', 'voice', 'text'));
ALTER TABLE chat_preferences ADD COLUMN voice_id TEXT;
