-- queuecore.ensure_indexes on PostgreSQL (schema.ensure_indexes): the one the retention purge
-- needs, and the audit log's order.
CREATE INDEX IF NOT EXISTS "{t}_finished" ON "{t}" (finished_at) WHERE status IN ('completed', 'cancelled');
CREATE INDEX IF NOT EXISTS "{t}_audit_at" ON "{t}_audit" (at);
