-- Process heartbeats (docs/operations.md, "Idempotency"): every `serve` process writes its
-- heartbeat here every second, and an idempotency claim records the process that holds it. A
-- claim whose process stopped heartbeating (killed, crashed, its machine gone) is taken over
-- within seconds, instead of waiting for idempotency.stale_after.
--
-- Kept in step with the other backend's 0006 (same columns and meanings). Timestamps are
-- epoch milliseconds, as in 0001.
CREATE TABLE instances (
    -- Random per process start.
    id              TEXT    PRIMARY KEY,
    heartbeat_at    BIGINT  NOT NULL
);

-- The instance that claimed the key; NULL for claims made before this migration (those keep
-- the stale_after rule alone).
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
