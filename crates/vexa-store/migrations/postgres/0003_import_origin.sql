-- Where a row came from: 'local' (made here) or 'vexa' (copied by `vexa import vexa`, ids kept).
-- The gateway resolves keys outside our checksum format only while live 'vexa' keys exist.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE api_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
CREATE INDEX api_keys_imported ON api_keys(origin) WHERE origin <> 'local';
