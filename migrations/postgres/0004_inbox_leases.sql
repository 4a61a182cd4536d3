-- Which replica answers an accepted message, and until when. The replica that records a
-- message holds it and renews its leases while it runs; a starting replica takes over only the
-- messages whose lease is free or lapsed (a replica that crashed), never one still answered.
ALTER TABLE inbox ADD COLUMN lease_owner TEXT;
ALTER TABLE inbox ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX inbox_by_lease ON inbox (lease_owner) WHERE state = 'received';
