-- Idempotency keys (docs/operations.md, "Idempotency"). A client sends `Idempotency-Key` on a
-- write; the first request's answer is kept here and replayed for a retry with the same key, so
-- a retried create never makes a second remote contact.
--
-- Kept in step with ../postgres/0003_idempotency.sql (same columns and meanings, only the
-- types differ). Timestamps are epoch milliseconds, as in 0001.
CREATE TABLE idempotency_keys (
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The client's key, 1-255 visible ASCII characters. Keys are scoped by tenant: two tenants
    -- may use the same key without seeing each other's answers.
    key             TEXT    NOT NULL,
    -- Hex SHA-256 over tenant, credential, method, path, canonical query and body: the same
    -- key with a different request is refused (422) instead of replaying the wrong answer.
    request_hash    TEXT    NOT NULL,
    -- in_progress | done
    state           TEXT    NOT NULL,
    -- Random per claim: only the request that claimed the key may finish or release it, even
    -- after another request took an abandoned claim over.
    claim_token     TEXT    NOT NULL,
    -- The stored answer (state = done): status, the headers a replay needs, the body bytes.
    status          INTEGER,
    content_type    TEXT,
    location        TEXT,
    body            BLOB,
    created_at      INTEGER  NOT NULL,
    -- Refreshed while the first request runs; an in_progress row not refreshed for
    -- idempotency.stale_after is treated as abandoned (its process died) and may be taken over.
    updated_at      INTEGER  NOT NULL,
    -- After this the key is forgotten (idempotency.window); purged lazily and periodically.
    expires_at      INTEGER  NOT NULL,
    -- One row per key and tenant: the INSERT that claims a key fails on conflict, so two
    -- concurrent first requests can never both run.
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
