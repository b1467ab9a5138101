-- Usage per key (CONTRACT §10): per-hour counts by outcome that every gateway replica ADDS its
-- flushed counts to, and the client address of a key's newest admitted use.
CREATE TABLE key_usage (
    key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    hour BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (key_id, hour, outcome)
);

ALTER TABLE api_keys ADD COLUMN last_client TEXT;
