-- Meetings, bot sessions, transcript segments, webhook targets. Times are epoch milliseconds.
CREATE TABLE meetings (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    platform TEXT NOT NULL,
    native_meeting_id TEXT,
    status TEXT NOT NULL,
    bot_container_id TEXT,
    start_time BIGINT,
    end_time BIGINT,
    completion_reason TEXT,
    failure_stage TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX meetings_user_created ON meetings(user_id, created_at);
CREATE INDEX meetings_key ON meetings(user_id, platform, native_meeting_id, created_at);
-- At most one non-terminal row per (user, platform, native id): the backstop of the 409 rule.
CREATE UNIQUE INDEX meetings_one_live ON meetings(user_id, platform, native_meeting_id)
    WHERE status NOT IN ('completed', 'failed');

-- One row per user, written first in every bot-creating transaction so concurrent requests of
-- one user serialize (a row lock on PostgreSQL, the write lock on SQLite).
CREATE TABLE meeting_user_locks (
    user_id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);

CREATE TABLE bot_sessions (
    id BIGSERIAL PRIMARY KEY,
    meeting_id BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    session_uid TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX bot_sessions_meeting ON bot_sessions(meeting_id);

CREATE TABLE transcript_segments (
    meeting_id BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL,
    session_uid TEXT,
    speaker TEXT,
    text TEXT NOT NULL,
    start_s DOUBLE PRECISION NOT NULL,
    end_s DOUBLE PRECISION NOT NULL,
    language TEXT,
    completed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, segment_id)
);

CREATE TABLE user_webhooks (
    user_id BIGINT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT,
    events TEXT,
    updated_at BIGINT NOT NULL
);
