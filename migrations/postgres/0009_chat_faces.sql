-- The face a chat brought with /face: the photo's bytes (kept so it can be uploaded to D-ID again
-- when D-ID's copy expires, 24-48 h after an upload), its type, and the D-ID URL of the latest
-- upload with when it was made (NULL: not uploaded yet). Bounded by D-ID's own 10 MB image limit;
-- FACE_MAX_BYTES may be lower. A row lives until `/face reset`, which deletes it.
CREATE TABLE chat_faces (
    platform     TEXT        NOT NULL,
    chat_id      TEXT        NOT NULL,
    image        BYTEA       NOT NULL CHECK (octet_length(image) BETWEEN 1 AND 10485760),
    mime         TEXT        NOT NULL CHECK (mime IN ('image/jpeg', 'image/png')),
    did_url      TEXT,
    uploaded_at  TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, chat_id)
);
-- The face a queued video was asked with (NULL: DID_SOURCE_URL): a later /face does not change it.
ALTER TABLE avatar_jobs ADD COLUMN source_url TEXT;
