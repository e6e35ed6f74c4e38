-- queuecore.ensure_indexes on SQLite (schema.ensure_indexes): the indexes of schema.sql, for
-- files made before they were, and the one the retention purge needs.
CREATE INDEX IF NOT EXISTS {t}_status ON {t} (status, available_at);
CREATE INDEX IF NOT EXISTS {t}_name ON {t} (name, status);
CREATE INDEX IF NOT EXISTS {t}_created ON {t} (created_at, id);
CREATE INDEX IF NOT EXISTS {t}_finished ON {t} (finished_at);
