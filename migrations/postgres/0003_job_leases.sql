-- Which replica works on an avatar job, and until when. A replica claims unfinished jobs whose
-- lease is free or expired (SELECT ... FOR UPDATE SKIP LOCKED), renews its leases while it works,
-- and releases them when it stops; a crashed replica's jobs are claimed when its leases expire.
ALTER TABLE avatar_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE avatar_jobs ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX avatar_jobs_by_lease ON avatar_jobs (lease_owner) WHERE state NOT IN ('delivered', 'failed');
