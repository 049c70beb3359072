-- Initial schema (SQLite): tenants, API key hashes, encrypted credentials, the contact index.
--
-- Kept in step with ../postgres/0001_initial.sql: the store runs the same runtime queries on
-- both, so column names and meanings must match; only the types differ.
--
-- Timestamps are INTEGER milliseconds since the Unix epoch (UTC) on both backends: one Rust
-- row type decodes on both, ORDER BY is numeric, and millisecond precision survives exactly
-- (SQLite's own TEXT dates would sort by string and vary in fraction length).
--
-- Enumerated text columns (provider, health, deletion_detected_by) carry no CHECK: SQLite
-- cannot alter a constraint without rebuilding the table, and adding a provider or a health
-- state should not need a migration. The Rust enums reject unknown values on read.

CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    -- The key id is the public half embedded in the key itself, so authentication is a
    -- primary-key lookup followed by one constant-time hash comparison.
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- SHA-256 of the whole presented key. The key has 256 bits of entropy, so a fast hash
    -- is enough; the key itself is shown once and never stored.
    key_hash    BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    -- Revoked keys are kept (not deleted) so an audit can still tell which key a tenant used.
    revoked_at  INTEGER
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE credentials (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider            TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    -- JSON as TEXT on both backends: the store never queries inside it.
    settings            TEXT    NOT NULL,
    tags                TEXT    NOT NULL,
    -- AES-256-GCM output (ciphertext with its tag), the 96-bit nonce it was sealed with, and the
    -- master key version, so the master key can be rotated without re-encrypting at once.
    -- The credential id is the associated data, which stops a ciphertext being moved to
    -- another row.
    secret_ciphertext   BLOB    NOT NULL,
    secret_nonce        BLOB    NOT NULL,
    secret_key_version  INTEGER NOT NULL,
    health              TEXT    NOT NULL DEFAULT 'unknown',
    health_detail       TEXT,
    health_checked_at   INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    -- Target of contact_index's composite foreign key, and the tenant-scoped keyset listing.
    UNIQUE (tenant_id, id)
);

CREATE TABLE contact_index (
    -- The gateway's own contact id, stable for as long as the remote record exists.
    id                    TEXT    NOT NULL PRIMARY KEY,
    tenant_id             TEXT    NOT NULL,
    credential_id         TEXT    NOT NULL,
    remote_id             TEXT    NOT NULL,
    remote_created_at     INTEGER,
    remote_updated_at     INTEGER,
    -- 0/1: SQLite has no boolean type; sqlx decodes it as bool like PostgreSQL's BOOLEAN.
    remote_deleted        INTEGER NOT NULL DEFAULT 0,
    remote_deleted_at     INTEGER,
    -- 'native' (the provider said so), 'diff' (the reconciler missed it), 'on_use' (a read or
    -- write got a 404); NULL while not deleted.
    deletion_detected_by  TEXT,
    last_seen_at          INTEGER,
    -- A digest of the remote content, so change detection needs no names, emails or phones
    -- here (CONTRACT §1: the index stores no personal data).
    fingerprint           TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    -- Composite so a row can never belong to a tenant other than its credential's; deleting a
    -- credential removes its index.
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

-- The upsert key when a page of remote contacts is seen, and the by-remote-id lookup.
CREATE UNIQUE INDEX contact_index_remote ON contact_index (credential_id, remote_id);

-- Tombstone listing (includeDeleted, reconciler output) pages by id within one credential.
CREATE INDEX contact_index_deleted ON contact_index (credential_id, remote_deleted, id);
