-- Version 1 of a collection's tables ({t}: its name, checked by schema.check_name), run by
-- schema.migrate under the collection's advisory lock, in one transaction.

-- The jobs, one row each (codec.py reads and writes them). Text is COLLATE "C" (code-point
-- order, as Python compares) with NUL encoded (text.py); data, result and the history are
-- jsonb. The times may be NULL: another program's row with no readable time is salvaged.
-- locked: an active labeled job holds its name and label (the unique index below).
CREATE TABLE IF NOT EXISTS "{t}" (
    id text COLLATE "C" PRIMARY KEY,
    name text COLLATE "C" NOT NULL,
    label text COLLATE "C" NOT NULL DEFAULT '',
    data jsonb NOT NULL DEFAULT '{}',
    status text COLLATE "C" NOT NULL,
    created_at timestamptz,
    available_at timestamptz,
    started_at timestamptz,
    ended_at timestamptz,
    finished_at timestamptz,
    attempts integer DEFAULT 0,
    result jsonb,
    reason text COLLATE "C" NOT NULL DEFAULT '',
    events jsonb NOT NULL DEFAULT '[]',
    worker text COLLATE "C" NOT NULL DEFAULT '',
    progress double precision,
    note text COLLATE "C" NOT NULL DEFAULT '',
    cancel_reason text COLLATE "C",
    heartbeat_at timestamptz,
    trace text COLLATE "C",
    locked boolean NOT NULL DEFAULT false
);

-- The label's lock: at most one active job per name and label.
CREATE UNIQUE INDEX IF NOT EXISTS "{t}_lock" ON "{t}" (name, label) WHERE locked;
-- Claims and counts by status (and due time), the board by name, listings newest first.
CREATE INDEX IF NOT EXISTS "{t}_status" ON "{t}" (status, available_at);
CREATE INDEX IF NOT EXISTS "{t}_name" ON "{t}" (name, status);
CREATE INDEX IF NOT EXISTS "{t}_created" ON "{t}" (created_at DESC NULLS LAST, id DESC);

-- The change feed: every insert, update and delete of a job (feed.py reads it by seq, with
-- the writing transaction's id to catch rows that committed after later ones).
CREATE TABLE IF NOT EXISTS "{t}_changes" (
    seq bigserial PRIMARY KEY,
    xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    id text COLLATE "C" NOT NULL,
    op text NOT NULL
);
CREATE INDEX IF NOT EXISTS "{t}_changes_xid" ON "{t}_changes" (xid);

-- Operators' actions (queuecore.audit).
CREATE TABLE IF NOT EXISTS "{t}_audit" (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    who text NOT NULL,
    source text NOT NULL,
    action text NOT NULL,
    ids jsonb NOT NULL,
    detail text NOT NULL DEFAULT ''
);

-- One statement's rows into the feed, and one notification per transaction (NOTIFY folds
-- identical ones) to the listening watchers.
CREATE OR REPLACE FUNCTION "{t}_feed"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO "{t}_changes" (id, op) SELECT id, 'insert' FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO "{t}_changes" (id, op) SELECT id, 'update' FROM new_rows;
    ELSE
        INSERT INTO "{t}_changes" (id, op) SELECT id, 'delete' FROM old_rows;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('{t}_changes', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER "{t}_ins" AFTER INSERT ON "{t}"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "{t}_feed"();
CREATE OR REPLACE TRIGGER "{t}_upd" AFTER UPDATE ON "{t}"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "{t}_feed"();
CREATE OR REPLACE TRIGGER "{t}_del" AFTER DELETE ON "{t}"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "{t}_feed"();

-- The period rule (writes.py): an update finishing a labeled job holds the advisory lock of
-- its name and label until it commits, so a periodic insert that takes it next sees it finished.
CREATE OR REPLACE FUNCTION "{t}_period"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(TG_TABLE_NAME || E'\x1f' || NEW.name || E'\x1f' || NEW.label, 0));
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER "{t}_period" BEFORE UPDATE OF finished_at ON "{t}" FOR EACH ROW
    WHEN (NEW.label <> '' AND NEW.finished_at IS NOT NULL AND NEW.finished_at IS DISTINCT FROM OLD.finished_at)
    EXECUTE FUNCTION "{t}_period"();
