-- Keys the server makes once and keeps, shared by every replica (PostgreSQL dialect of
-- ../0006_web_keys_and_retention.sql): the web chat signs its conversation ids and cookies.
CREATE TABLE server_keys (
    name        TEXT        PRIMARY KEY,
    value       TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Web voice messages no longer go into the inbox: drop the audio the answered ones still hold.
UPDATE inbox SET payload = (payload::jsonb - 'audio')::text
 WHERE platform = 'web' AND state = 'answered' AND payload LIKE '%"audio"%';

-- The retention task deletes answered messages and history by age.
CREATE INDEX inbox_answered ON inbox (answered_at) WHERE state = 'answered';
CREATE INDEX messages_by_age ON messages (created_at);
