-- Users and API keys. Times are epoch milliseconds (BIGINT) so SQL is shared with SQLite.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    name TEXT,
    image_url TEXT,
    max_concurrent_bots BIGINT NOT NULL DEFAULT 3,
    data TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    scopes TEXT NOT NULL,
    name TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys(user_id);

-- Append-only log of changes that invalidate cached key resolutions on other processes.
CREATE TABLE identity_events (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    key_digest TEXT,
    user_id BIGINT,
    created_at BIGINT NOT NULL
);

-- Other replicas LISTEN on this channel; the payload is the new event's sequence number.
-- Notifications are delivered at commit, so a listener never sees an uncommitted change.
CREATE FUNCTION vexa_identity_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('vexa_identity', NEW.seq::text);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER identity_events_notify AFTER INSERT ON identity_events
    FOR EACH ROW EXECUTE FUNCTION vexa_identity_notify();
