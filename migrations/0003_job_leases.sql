-- Which process works on an avatar job, and until when: replicas on one database claim jobs by
-- lease. SQLite serves one process, which owns every job; the columns keep both schemas alike.
ALTER TABLE avatar_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE avatar_jobs ADD COLUMN lease_until TEXT;
