-- What an avatar job says besides its text: the voice that speaks it (NULL: DID_VOICE_ID) and
-- whether the answer was longer than the video, so the video's message says the rest is above.
ALTER TABLE avatar_jobs ADD COLUMN voice_id TEXT;
ALTER TABLE avatar_jobs ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
