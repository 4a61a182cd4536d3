-- Conversation history, per-chat preferences and durable avatar jobs (PostgreSQL dialect of
-- ../0001_initial.sql: same tables, columns and indexes).
CREATE TABLE messages (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform    TEXT        NOT NULL,
    chat_id     TEXT        NOT NULL,
    thread_id   TEXT        NOT NULL DEFAULT '',
    role        TEXT        NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The per-turn history read: newest messages of one conversation.
CREATE INDEX messages_by_conversation ON messages (platform, chat_id, thread_id, id);

CREATE TABLE chat_preferences (
    platform        TEXT        NOT NULL,
    chat_id         TEXT        NOT NULL,
    avatar_enabled  BOOLEAN,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, chat_id)
);

CREATE TABLE avatar_jobs (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform    TEXT        NOT NULL,
    chat_id     TEXT        NOT NULL,
    thread_id   TEXT        NOT NULL DEFAULT '',
    text        TEXT        NOT NULL,
    target      TEXT        NOT NULL DEFAULT '',
    state       TEXT        NOT NULL CHECK (state IN ('queued', 'submitted', 'rendered', 'delivered', 'failed')),
    talk_id     TEXT,
    video_path  TEXT,
    error       TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Start-up resume reads only unfinished jobs.
CREATE INDEX avatar_jobs_unfinished ON avatar_jobs (state) WHERE state NOT IN ('delivered', 'failed');
