-- Each tenant's change feed counts on its own (docs/reconciliation.md, "The change feed"): the
-- `sequence` a tenant sees is 1, 2, 3, … over its own events only, so the gaps between
-- `nextAfter` values no longer reveal how much other tenants write. The global `sequence`
-- stays the row's key and the commit order (SQLite has one writer).
--
-- Kept in step with ../postgres/0007_tenant_event_sequence.sql (same columns and meanings).
ALTER TABLE events ADD COLUMN tenant_sequence INTEGER;

UPDATE events SET tenant_sequence = r.n
FROM (SELECT sequence AS s, row_number() OVER (PARTITION BY tenant_id ORDER BY sequence) AS n
      FROM events) AS r
WHERE events.sequence = r.s;

CREATE UNIQUE INDEX events_tenant_sequence ON events (tenant_id, tenant_sequence);
