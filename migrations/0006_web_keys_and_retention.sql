-- Keys the server makes once and keeps, shared by every process on the database: the web chat
-- signs its conversation ids and session cookies with one.
CREATE TABLE server_keys (
    name        TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Web voice messages no longer go into the inbox: drop the audio the answered ones still hold.
UPDATE inbox SET payload = json_remove(payload, '$.audio')
 WHERE platform = 'web' AND state = 'answered' AND json_valid(payload)
   AND json_type(payload, '$.audio') IS NOT NULL;

-- The retention task deletes answered messages and history by age.
CREATE INDEX inbox_answered ON inbox (answered_at) WHERE state = 'answered';
CREATE INDEX messages_by_age ON messages (created_at);
