-- Rotation with grace (CONTRACT §10): a rotated key keeps working until `retires_at` (epoch ms),
-- then is invalid and leaves the user's key list; `replaced_by` names the key that replaced it.
-- The grace end is stored rather than scheduled so every replica enforces it from its own clock.
ALTER TABLE api_keys ADD COLUMN retires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN replaced_by BIGINT;
