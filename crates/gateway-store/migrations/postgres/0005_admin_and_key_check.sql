-- Key last-use times for the admin API, and one sealed canary per master key version so a
-- start with the wrong master key is refused before any request needs a secret
-- (docs/operations.md, "Master key").
--
-- Kept in step with ../sqlite/0005_admin_and_key_check.sql (same columns and meanings, only
-- the types differ). Timestamps are epoch milliseconds, as in 0001.

-- When the key last authenticated a request; refreshed at most once a minute per key, so a
-- busy tenant does not turn every read into a write.
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;

-- A fixed text sealed under each master key version the first time a `serve` starts with it.
-- A later start whose key for that version cannot open it is refused, naming the version,
-- even while no credential exists yet. Holds nothing secret without the master key.
CREATE TABLE master_key_canaries (
    key_version  BIGINT  NOT NULL PRIMARY KEY,
    nonce        BYTEA   NOT NULL,
    ciphertext   BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL
);
