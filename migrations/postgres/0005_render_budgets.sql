-- The video budget an avatar job holds (core/quota.py): the UTC day it counts on, whose budget
-- it is and how many milliseconds of video. Kept on the job so that whichever replica sees D-ID
-- fail the render (also one started after a restart) can give it back.
ALTER TABLE avatar_jobs ADD COLUMN reserved_day TEXT;
ALTER TABLE avatar_jobs ADD COLUMN reserved_scope TEXT;
ALTER TABLE avatar_jobs ADD COLUMN reserved_ms BIGINT NOT NULL DEFAULT 0;
