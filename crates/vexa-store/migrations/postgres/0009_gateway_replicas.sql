-- The registry of gateway replicas: each gateway process upserts its row every heartbeat and
-- deletes it on graceful shutdown; rows of killed processes go stale and are pruned after an hour.
CREATE TABLE gateway_replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    addr TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    cache_entries BIGINT NOT NULL,
    applied_seq BIGINT NOT NULL,
    applied_at BIGINT
);
