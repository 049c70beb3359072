-- Each tenant's change feed counts on its own (docs/reconciliation.md, "The change feed"): the
-- `sequence` a tenant sees is 1, 2, 3, … over its own events only, so the gaps between
-- `nextAfter` values no longer reveal how much other tenants write. The global `sequence`
-- stays the row's key and the commit order (the advisory lock of 0002 still orders writers).
--
-- The number comes from a counter on the tenant, never from the events left: deleting a
-- credential deletes its events, and a number must never be handed out twice. A trigger
-- assigns it, so every writer — an older binary during a rolling upgrade too — gets one.
--
-- Kept in step with ../sqlite/0007_tenant_event_sequence.sql (same columns and meanings).
ALTER TABLE tenants ADD COLUMN event_sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN tenant_sequence BIGINT;

UPDATE events AS e SET tenant_sequence = r.n
FROM (SELECT sequence, row_number() OVER (PARTITION BY tenant_id ORDER BY sequence) AS n
      FROM events) AS r
WHERE e.sequence = r.sequence;

UPDATE tenants AS t SET event_sequence =
    COALESCE((SELECT MAX(tenant_sequence) FROM events AS e WHERE e.tenant_id = t.id), 0);

CREATE UNIQUE INDEX events_tenant_sequence ON events (tenant_id, tenant_sequence);

CREATE FUNCTION events_tenant_number() RETURNS trigger AS $$
BEGIN
    UPDATE tenants SET event_sequence = event_sequence + 1 WHERE id = NEW.tenant_id
        RETURNING event_sequence INTO NEW.tenant_sequence;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_tenant_number BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_tenant_number();
