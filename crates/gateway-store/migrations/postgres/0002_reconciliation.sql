-- Background reconciliation of remote deletions (PostgreSQL): the change feed, reconciliation runs
-- and the per-credential scheduling state with its lease.
--
-- Kept in step with ../sqlite/0002_reconciliation.sql (same columns and meanings, only the
-- types differ). Timestamps are BIGINT epoch milliseconds, as in 0001.

-- The change feed (GET /events). `sequence` is the cursor. A sequence value is handed out at
-- INSERT time, not at COMMIT, so two writers could commit out of order and a reader could skip
-- an event; the store therefore takes a transaction-level advisory lock right before it
-- inserts events (the last statement of the transaction), which makes commits follow sequence
-- order.
CREATE TABLE events (
    sequence        BIGSERIAL PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    tenant_id       TEXT    NOT NULL,
    credential_id   TEXT    NOT NULL,
    -- contact.created | contact.updated | contact.deleted | contact.discovered |
    -- contact.remote_deleted | contact.restored
    type            TEXT    NOT NULL,
    contact_id      TEXT,
    remote_id       TEXT,
    occurred_at     BIGINT  NOT NULL,
    -- JSON object as TEXT.
    data            TEXT    NOT NULL,
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX events_tenant ON events (tenant_id, sequence);
CREATE INDEX events_credential ON events (credential_id, sequence);

-- One reconciliation pass of one credential. The listing position (`cursor`, the adapter's own)
-- and the counters are saved after every page, so a process that takes over an expired lease
-- resumes the same run from there with the same `started_at` (T0).
CREATE TABLE reconcile_runs (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    credential_id   TEXT    NOT NULL,
    -- queued | running | succeeded | failed | held
    status          TEXT    NOT NULL,
    -- schedule | api | cli
    trigger         TEXT    NOT NULL,
    -- diff | native
    strategy        TEXT,
    -- listing | confirming
    phase           TEXT    NOT NULL DEFAULT 'listing',
    cursor          TEXT,
    -- 1 once an operator confirmed a held run: the brake is not applied again.
    confirmed       BOOLEAN NOT NULL DEFAULT FALSE,
    owner           TEXT,
    pages_fetched   BIGINT  NOT NULL DEFAULT 0,
    contacts_seen   BIGINT  NOT NULL DEFAULT 0,
    provider_calls  BIGINT  NOT NULL DEFAULT 0,
    discovered      BIGINT  NOT NULL DEFAULT 0,
    flagged         BIGINT  NOT NULL DEFAULT 0,
    restored        BIGINT  NOT NULL DEFAULT 0,
    candidates      BIGINT  NOT NULL DEFAULT 0,
    known_contacts  BIGINT  NOT NULL DEFAULT 0,
    confirm_errors  BIGINT  NOT NULL DEFAULT 0,
    error           TEXT,
    created_at      BIGINT  NOT NULL,
    -- T0: contacts not seen since then are the diff's candidates.
    started_at      BIGINT,
    finished_at     BIGINT,
    updated_at      BIGINT  NOT NULL,
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX reconcile_runs_credential ON reconcile_runs (credential_id, created_at);

-- Scheduling state per credential, and the lease that makes one process at a time work on it.
CREATE TABLE reconcile_schedule (
    credential_id    TEXT    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    -- NULL: nothing due (periodic reconciliation off and no run asked for).
    next_run_at      BIGINT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    -- The run being worked on (queued or running), resumed by whoever takes the lease.
    run_id           TEXT,
    last_run_id      TEXT,
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX reconcile_schedule_due ON reconcile_schedule (next_run_at);

-- The reconciler's candidate query: live rows of one credential not seen since T0.
CREATE INDEX contact_index_unseen ON contact_index (credential_id, remote_deleted, last_seen_at);
