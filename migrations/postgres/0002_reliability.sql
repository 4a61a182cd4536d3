-- Accepted messages are recorded before the platform is told they arrived, and answered once
-- (PostgreSQL dialect of ../0002_reliability.sql).
CREATE TABLE inbox (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform     TEXT        NOT NULL,
    message_key  TEXT        NOT NULL,  -- the platform's own id: Telegram update_id, Discord message id
    payload      TEXT        NOT NULL,  -- what the adapter needs to answer it again after a restart
    state        TEXT        NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'answered')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    answered_at  TIMESTAMPTZ,
    UNIQUE (platform, message_key)
);
-- Start-up replay reads only what is still unanswered.
CREATE INDEX inbox_unanswered ON inbox (platform, id) WHERE state = 'received';

-- Usage counters per period (a UTC day or minute), per scope (a user, or '*' for everyone).
-- Periods are pruned by comparing them as text: byte order (C), as in SQLite, not the locale's.
CREATE TABLE counters (
    period  TEXT    COLLATE "C" NOT NULL,
    scope   TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    count   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (period, scope, name)
);
