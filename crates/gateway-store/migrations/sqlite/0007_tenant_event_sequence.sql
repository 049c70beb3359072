-- Each tenant's change feed counts on its own (docs/reconciliation.md, "The change feed"): the
-- `sequence` a tenant sees is 1, 2, 3, … over its own events only, so the gaps between
-- `nextAfter` values no longer reveal how much other tenants write. The global `sequence`
-- stays the row's key and the commit order (SQLite has one writer).
--
-- The number comes from a counter on the tenant, never from the events left: deleting a
-- credential deletes its events, and a number must never be handed out twice. A trigger
-- assigns it, so every writer — an older binary during a rolling upgrade too — gets one.
--
-- Kept in step with ../postgres/0007_tenant_event_sequence.sql (same columns and meanings).
ALTER TABLE tenants ADD COLUMN event_sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN tenant_sequence INTEGER;

UPDATE events SET tenant_sequence = r.n
FROM (SELECT sequence AS s, row_number() OVER (PARTITION BY tenant_id ORDER BY sequence) AS n
      FROM events) AS r
WHERE events.sequence = r.s;

UPDATE tenants SET event_sequence =
    COALESCE((SELECT MAX(tenant_sequence) FROM events WHERE events.tenant_id = tenants.id), 0);

CREATE UNIQUE INDEX events_tenant_sequence ON events (tenant_id, tenant_sequence);

CREATE TRIGGER events_tenant_number AFTER INSERT ON events FOR EACH ROW
BEGIN
    UPDATE tenants SET event_sequence = event_sequence + 1 WHERE id = NEW.tenant_id;
    UPDATE events SET tenant_sequence = (SELECT event_sequence FROM tenants WHERE id = NEW.tenant_id)
        WHERE sequence = NEW.sequence;
END;
