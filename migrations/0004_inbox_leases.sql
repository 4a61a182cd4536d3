-- Which process recorded (or took over) an accepted message. SQLite serves one process at a
-- time, so a start takes over every message that another process left unanswered.
ALTER TABLE inbox ADD COLUMN lease_owner TEXT;
