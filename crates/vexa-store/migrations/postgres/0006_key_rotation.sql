-- Rotation with grace (CONTRACT §10): a rotated key keeps working until `retires_at` (epoch ms),
-- then is invalid and leaves the user's key list; `replaced_by` names the key that replaced it.
-- The grace end is stored rather than scheduled so every replica enforces it from its own clock.
ALTER TABLE api_keys ADD COLUMN retires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN replaced_by BIGINT;
-- Key events (`key.expiring`): when the one notice of a key's coming expiry was claimed. Set by a
-- conditional UPDATE, so with several admin API replicas exactly one sends it.
ALTER TABLE api_keys ADD COLUMN expiry_notified_at BIGINT;
-- The sweep's lookup touches only keys still waiting for their notice.
CREATE INDEX api_keys_expiry_notice ON api_keys(expires_at)
    WHERE expiry_notified_at IS NULL AND revoked_at IS NULL AND expires_at IS NOT NULL;
