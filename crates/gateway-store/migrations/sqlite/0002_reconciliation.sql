-- Background reconciliation of remote deletions (SQLite): the change feed, reconciliation runs
-- and the per-credential scheduling state with its lease.
--
-- Kept in step with ../postgres/0002_reconciliation.sql (same columns and meanings, only the
-- types differ). Timestamps are INTEGER epoch milliseconds, as in 0001.

-- The change feed (GET /events). `sequence` is the cursor: AUTOINCREMENT never reuses a value,
-- and SQLite's single writer commits events in sequence order, so a reader that saw N never
-- later finds an event below N appear.
CREATE TABLE events (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    tenant_id       TEXT    NOT NULL,
    credential_id   TEXT    NOT NULL,
    -- contact.created | contact.updated | contact.deleted | contact.discovered |
    -- contact.remote_deleted | contact.restored
    type            TEXT    NOT NULL,
    contact_id      TEXT,
    remote_id       TEXT,
    occurred_at     INTEGER NOT NULL,
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
    confirmed       INTEGER NOT NULL DEFAULT 0,
    owner           TEXT,
    pages_fetched   INTEGER NOT NULL DEFAULT 0,
    contacts_seen   INTEGER NOT NULL DEFAULT 0,
    provider_calls  INTEGER NOT NULL DEFAULT 0,
    discovered      INTEGER NOT NULL DEFAULT 0,
    flagged         INTEGER NOT NULL DEFAULT 0,
    restored        INTEGER NOT NULL DEFAULT 0,
    candidates      INTEGER NOT NULL DEFAULT 0,
    known_contacts  INTEGER NOT NULL DEFAULT 0,
    confirm_errors  INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    -- T0: contacts not seen since then are the diff's candidates.
    started_at      INTEGER,
    finished_at     INTEGER,
    updated_at      INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX reconcile_runs_credential ON reconcile_runs (credential_id, created_at);

-- Scheduling state per credential, and the lease that makes one process at a time work on it.
CREATE TABLE reconcile_schedule (
    credential_id    TEXT    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    -- NULL: nothing due (periodic reconciliation off and no run asked for).
    next_run_at      INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    -- The run being worked on (queued or running), resumed by whoever takes the lease.
    run_id           TEXT,
    last_run_id      TEXT,
    FOREIGN KEY (tenant_id, credential_id) REFERENCES credentials (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX reconcile_schedule_due ON reconcile_schedule (next_run_at);

-- The reconciler's candidate query: live rows of one credential not seen since T0.
CREATE INDEX contact_index_unseen ON contact_index (credential_id, remote_deleted, last_seen_at);
