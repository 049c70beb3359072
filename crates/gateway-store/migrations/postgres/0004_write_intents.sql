-- Creates whose outcome is unknown (docs/operations.md, "Writes whose outcome is unknown").
-- A create sent under an Idempotency-Key leaves an intent here until its contact is in the
-- index. If the gateway dies, or the provider times out or fails after it may have written,
-- the intent stays open; a retry with the same key then waits for a reconciliation pass, which
-- either finds the contact (adopted: the retry answers with it) or proves it was never made
-- (absent: the retry creates it). So a retried create never makes a second remote contact.
--
-- Kept in step with ../sqlite/0004_write_intents.sql (same columns and meanings, only the
-- types differ). Timestamps are epoch milliseconds, as in 0001.
CREATE TABLE write_intents (
    tenant_id       TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    credential_id   TEXT    NOT NULL,
    -- open | adopted | absent
    state           TEXT    NOT NULL,
    -- Salted SHA-256 digests of what the create sent (gateway_core::CreateMatch): the names,
    -- the first email and the first phone's last digits. No personal data in clear.
    match_names     TEXT    NOT NULL,
    match_email     TEXT,
    match_phone     TEXT,
    -- When the create was handed to the provider.
    sent_at         BIGINT  NOT NULL,
    -- After this the provider can no longer apply the create (it answered, or its longest
    -- request time passed): a listing that starts later shows the contact if it exists.
    settle_at       BIGINT  NOT NULL,
    -- The contact the create made (adopted), once known.
    contact_id      TEXT,
    remote_id       TEXT,
    resolved_at     BIGINT,
    -- Forgotten with the idempotency key (api.idempotency.window).
    expires_at      BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key),
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

-- The reconciler reads a credential's open intents at the start of every pass.
CREATE INDEX write_intents_open ON write_intents (credential_id, state);
CREATE INDEX write_intents_expires ON write_intents (expires_at);

-- Who made a contact: 'api' for a create through the gateway, 'recovered' for a contact an
-- intent adopted, NULL for one first seen in a listing, a read or a reconciliation. Only NULL
-- rows may be adopted, so a recovered create never claims another request's contact.
ALTER TABLE contact_index ADD COLUMN created_via TEXT;
