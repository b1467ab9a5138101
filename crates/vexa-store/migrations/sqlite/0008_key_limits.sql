-- Per-key limits (CONTRACT §10): NULL means the key has none of its own and only its user's
-- limits apply. Bots remember the key that started them, so a key's bot cap can be counted.
ALTER TABLE api_keys ADD COLUMN rate_limit_rps REAL;
ALTER TABLE api_keys ADD COLUMN rate_limit_burst BIGINT;
ALTER TABLE api_keys ADD COLUMN max_concurrent_bots BIGINT;
ALTER TABLE meetings ADD COLUMN started_by_key_id BIGINT;
CREATE INDEX meetings_started_by_key ON meetings(started_by_key_id, status)
    WHERE started_by_key_id IS NOT NULL;
