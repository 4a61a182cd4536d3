-- What a truncated avatar job's script says: the answer's start, or the model's spoken summary
-- (AVATAR_SCRIPT=summary), so the video's message tells the user which. Older jobs said the start.
ALTER TABLE avatar_jobs ADD COLUMN script_kind TEXT NOT NULL DEFAULT 'start'
    CHECK (script_kind IN ('start', 'summary'));
