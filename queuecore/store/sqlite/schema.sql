-- The tables of one collection ({t}: its name, checked by schema.check_name) and the shared
-- queuecore_meta. Idempotent: run by every store that opens the file (schema.create).

-- The jobs, one row each: a column per stored field of queuecore.fields, put in by
-- schema.columns (codec.py reads and writes them: dates are epoch milliseconds,
-- data/result/events JSON text). lock: set only while a labeled job is active (its unique
-- index is made by schema.create: tables of earlier versions have a UNIQUE column instead).
CREATE TABLE IF NOT EXISTS {t} (
    {columns},
    lock TEXT
);

-- The change feed: every insert, update and delete of a job, in commit order (feed.py tails
-- it by seq; purge and every FEED_KEEP // 10 rows written trim it).
CREATE TABLE IF NOT EXISTS {t}_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    op TEXT NOT NULL
);

-- Per-file settings: "<collection>.remove_after" (the retention, seconds).
CREATE TABLE IF NOT EXISTS queuecore_meta (
    key TEXT PRIMARY KEY,
    value TEXT
);

-- Operators' actions (queuecore.audit).
CREATE TABLE IF NOT EXISTS {t}_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    ids TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER IF NOT EXISTS {t}_ins AFTER INSERT ON {t} BEGIN
    INSERT INTO {t}_changes (id, op) VALUES (NEW.id, 'insert');
END;
CREATE TRIGGER IF NOT EXISTS {t}_upd AFTER UPDATE ON {t} BEGIN
    INSERT INTO {t}_changes (id, op) VALUES (NEW.id, 'update');
END;
CREATE TRIGGER IF NOT EXISTS {t}_del AFTER DELETE ON {t} BEGIN
    INSERT INTO {t}_changes (id, op) VALUES (OLD.id, 'delete');
END;

-- Claims and counts by status (and due time), the board by name, listings by age.
CREATE INDEX IF NOT EXISTS {t}_status ON {t} (status, available_at);
CREATE INDEX IF NOT EXISTS {t}_name ON {t} (name, status);
CREATE INDEX IF NOT EXISTS {t}_created ON {t} (created_at, id);
