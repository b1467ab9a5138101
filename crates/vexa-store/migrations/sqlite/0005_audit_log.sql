-- The append-only audit log of admin mutations (CONTRACT §10), a hash chain. No foreign keys:
-- deleting a user or key must never take its entries along. `changes` is JSON text, hashed as
-- stored. `audit_head` is the chain's one-row head: every audited transaction locks and moves it
-- just before committing, which serializes appends, and `vexa audit verify` compares the log's
-- end against it.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    user_id BIGINT,
    key_id BIGINT,
    request_id TEXT,
    client_addr TEXT,
    changes TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_user ON audit_log(user_id, seq);
CREATE INDEX audit_log_key ON audit_log(key_id, seq);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The head follows every appended entry inside the appending statement itself, which spares the
-- appender a round trip while it holds the head.
CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
END;
