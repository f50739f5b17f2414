-- Retention (issue #15 §1): the store in monthly partitions, so that a period past its retention
-- goes by dropping whole tables, never by deleting rows.
--
-- Each event goes to the partition of the month (UTC) its stream began (`stream_month`, set by
-- the append functions): a session's events, late ones included, live and go together, and a
-- retention of N months keeps every session whose first event is younger than that. It is not
-- part of an event's hash, which covers what the event says, not where it is kept.
--
-- A partitioned table's unique keys must hold its partition key, so the store keeps two small
-- tables beside it, written by the chain trigger on every insert (every way in), with the unique
-- keys the events table had: `ledger.streams` (one row per stream: its head version and hash, its
-- month) and `ledger.event_ids` (one row per event). A second writer of a stream waits for the
-- first's commit on the stream's row and then fails with a unique violation, as it did on the
-- index before (the append functions' callers run the append again); the head and the previous
-- hash come from one primary-key lookup instead of a probe of every month.
--
-- Partitions are made ahead (ledger.ensure_event_partitions, three months: by `migrate`, `serve`
-- at start and the active projector every hour) as tables of their own that are then attached,
-- which takes a lock that neither appends nor reads wait for. Retention (ledger.retention_*, run
-- by `error-ledger retention apply` as the owner) freezes a month (its streams take no more
-- events: SQLSTATE LE002), moves what the read models say about its sessions into the retired
-- aggregates and prunes them, records what verify needs to keep the seals checkable (also as a
-- `RetentionCut` event), and detaches (CONCURRENTLY: no long lock) and drops the partition.
--
-- Existing events are copied into the partitions once, here (appends wait for it: it holds the
-- table's lock); their hashes, positions and transaction ids are kept. An existing stream goes to
-- the month of its newest event, so that nothing is kept for less than the retention.

-- 1. The partitioned store --------------------------------------------------------------------

-- The month (UTC) of `at`, as stream_month holds it.
CREATE FUNCTION ledger.month_of(at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_trunc('month', at AT TIME ZONE 'UTC')::date;

ALTER TABLE ledger.events RENAME TO events_unpartitioned;
ALTER INDEX ledger.events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX ledger.events_stream_id_stream_version_key RENAME TO events_unpartitioned_stream_version_key;
ALTER INDEX ledger.events_event_id_key RENAME TO events_unpartitioned_event_id_key;
ALTER INDEX ledger.events_transaction_id_global_position_idx RENAME TO events_unpartitioned_order_idx;

CREATE TABLE ledger.events (
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    stream_id       text NOT NULL,
    stream_version  integer NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    transaction_id  xid8 NOT NULL DEFAULT ledger.current_transaction_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    hash            bytea NOT NULL,
    -- The first day of the month (UTC) the event's stream began: the partition it lives in. The
    -- append functions set it; the owner's own insert (a test's, a repair's) lands in this month.
    stream_month    date NOT NULL DEFAULT ledger.month_of(now()),
    CONSTRAINT events_stream_version_check CHECK (stream_version > 0),
    CONSTRAINT events_stream_id_check CHECK (stream_id ~ '^[a-z]+-[^[:space:]]{1,200}$'),
    CONSTRAINT events_event_type_check CHECK (event_type ~ '^[A-Z][A-Za-z]{0,99}$'),
    CONSTRAINT events_stream_month_check CHECK (extract(day FROM stream_month) = 1)
) PARTITION BY RANGE (stream_month);

-- A month's partition, made as a table of its own and attached (SHARE UPDATE EXCLUSIVE on the
-- store: appends and reads go on). Returns false when it exists. The owner's.
CREATE FUNCTION ledger.create_event_partition(month date) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    name text := 'events_' || to_char(month, 'YYYY_MM');
BEGIN
    IF month IS NULL OR extract(day FROM month) <> 1 THEN
        RAISE EXCEPTION 'a partition of ledger.events begins on the first of a month, not %', month;
    END IF;
    IF to_regclass('ledger.' || name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE ledger.%I (LIKE ledger.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    -- Attaching then needs no scan of its own.
    EXECUTE format('ALTER TABLE ledger.%I ADD CONSTRAINT %I CHECK (stream_month >= %L AND stream_month < %L)',
                   name, name || '_month', month, (month + interval '1 month')::date);
    EXECUTE format('ALTER TABLE ledger.events ATTACH PARTITION ledger.%I FOR VALUES FROM (%L) TO (%L)',
                   name, month, (month + interval '1 month')::date);
    -- Row triggers come with the attach; a TRUNCATE of the partition itself needs its own.
    EXECUTE format('CREATE TRIGGER events_reject_truncate BEFORE TRUNCATE ON ledger.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change()', name);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION ledger.create_event_partition(date) FROM PUBLIC;

DO $$
DECLARE
    month date;
    last  date := (ledger.month_of(now()) + interval '3 months')::date;
BEGIN
    month := least(coalesce((SELECT ledger.month_of(min(recorded_at)) FROM ledger.events_unpartitioned), ledger.month_of(now())),
                   ledger.month_of(now()));
    WHILE month <= last LOOP
        PERFORM ledger.create_event_partition(month);
        month := (month + interval '1 month')::date;
    END LOOP;
END
$$;

INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, transaction_id,
                           recorded_at, hash, stream_month) OVERRIDING SYSTEM VALUE
SELECT e.global_position, e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata, e.transaction_id,
       e.recorded_at, e.hash, f.stream_month
  FROM ledger.events_unpartitioned e
  JOIN (SELECT stream_id, ledger.month_of(max(recorded_at)) AS stream_month
          FROM ledger.events_unpartitioned GROUP BY stream_id) f USING (stream_id);

-- Positions handed out before (committed or not) are never handed out again.
DO $$
DECLARE
    old      record;
BEGIN
    EXECUTE format('SELECT last_value, is_called FROM %s', pg_get_serial_sequence('ledger.events_unpartitioned', 'global_position'))
       INTO old;
    PERFORM setval(pg_get_serial_sequence('ledger.events', 'global_position'), old.last_value, old.is_called);
END
$$;

-- No primary key: one would have to hold stream_month, and the planner then scans a whole month's
-- key for `stream_month = …`, which the lookups give only to choose the partition. Positions are
-- unique by the identity that hands them out (the service cannot insert one of its own, db/0013).
CREATE INDEX events_global_position_idx ON ledger.events (global_position);
CREATE INDEX events_stream_id_stream_version_idx ON ledger.events (stream_id, stream_version);
-- No index on event_id: an event is found by its id through ledger.event_ids (below), one random
-- b-tree of ids instead of two.
CREATE INDEX events_transaction_id_global_position_idx ON ledger.events (transaction_id, global_position);

DROP TABLE ledger.events_unpartitioned;

-- The unique keys of the store, and each stream's head.
CREATE TABLE ledger.streams (
    stream_id      text PRIMARY KEY,
    stream_version integer NOT NULL,
    hash           bytea NOT NULL,
    stream_month   date NOT NULL,
    -- Its month is being taken out by retention: it takes no more events.
    retiring       boolean NOT NULL DEFAULT false
) WITH (fillfactor = 80);  -- every append rewrites its stream's row: room on the page keeps that HOT
CREATE INDEX streams_stream_month_idx ON ledger.streams (stream_month);
CREATE TABLE ledger.event_ids (
    event_id        uuid PRIMARY KEY,
    global_position bigint NOT NULL,
    stream_month    date NOT NULL
);
INSERT INTO ledger.streams (stream_id, stream_version, hash, stream_month)
SELECT DISTINCT ON (stream_id) stream_id, stream_version, hash, stream_month FROM ledger.events ORDER BY stream_id, stream_version DESC;
INSERT INTO ledger.event_ids (event_id, global_position, stream_month) SELECT event_id, global_position, stream_month FROM ledger.events;
GRANT SELECT ON ledger.streams, ledger.event_ids TO ledger_service;

-- db/0017's chain, with the stream's head from ledger.streams (locked: one writer per stream at
-- a time), and the unique keys kept there.
CREATE OR REPLACE FUNCTION ledger.chain_event() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head ledger.streams;
BEGIN
    IF NEW.hash IS NOT NULL THEN
        -- The owner's insert of a stored row (a restore): it keeps its hash, and the dump brings
        -- ledger.streams and ledger.event_ids with it.
        RETURN NEW;
    END IF;
    SELECT * INTO head FROM ledger.streams s WHERE s.stream_id = NEW.stream_id FOR UPDATE;
    IF FOUND THEN
        IF head.retiring THEN
            RAISE EXCEPTION 'stream % began in %, which retention is taking out of the store: it takes no more events',
                NEW.stream_id, to_char(head.stream_month, 'YYYY-MM')
                USING ERRCODE = 'LE002', HINT = 'A notification for this session after its month is gone starts it anew.';
        END IF;
        IF NEW.stream_version <= head.stream_version THEN
            RAISE EXCEPTION 'duplicate key value violates unique constraint "events_stream_id_stream_version_key"'
                USING ERRCODE = 'unique_violation', DETAIL = format('Key (stream_id, stream_version)=(%s, %s) already exists.', NEW.stream_id, NEW.stream_version);
        END IF;
        IF NEW.stream_month <> head.stream_month THEN
            RAISE EXCEPTION 'stream % lives in the partition of %, not %', NEW.stream_id, head.stream_month, NEW.stream_month
                USING ERRCODE = 'check_violation';
        END IF;
        NEW.hash := ledger.event_hash(head.hash, NEW.stream_id, NEW.stream_version, NEW.event_id, NEW.event_type, NEW.data,
                                      NEW.metadata, NEW.transaction_id, NEW.global_position, NEW.recorded_at);
        UPDATE ledger.streams s SET stream_version = NEW.stream_version, hash = NEW.hash WHERE s.stream_id = NEW.stream_id;
    ELSE
        NEW.hash := ledger.event_hash(NULL, NEW.stream_id, NEW.stream_version, NEW.event_id, NEW.event_type, NEW.data,
                                      NEW.metadata, NEW.transaction_id, NEW.global_position, NEW.recorded_at);
        -- A concurrent first writer of the stream: this waits for its commit, then fails.
        INSERT INTO ledger.streams (stream_id, stream_version, hash, stream_month)
        VALUES (NEW.stream_id, NEW.stream_version, NEW.hash, NEW.stream_month);
    END IF;
    INSERT INTO ledger.event_ids (event_id, global_position, stream_month) VALUES (NEW.event_id, NEW.global_position, NEW.stream_month);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_reject_update_delete BEFORE UPDATE OR DELETE ON ledger.events
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER events_reject_truncate BEFORE TRUNCATE ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER events_notify_appended AFTER INSERT ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.notify_events_appended();
CREATE TRIGGER events_chain BEFORE INSERT ON ledger.events FOR EACH ROW EXECUTE FUNCTION ledger.chain_event();

GRANT SELECT ON ledger.events TO ledger_service;

-- Makes the partitions of this month and the next `months_ahead` that are missing; returns how
-- many it made. Never waits long for the store's lock (a partition not made now is made at the
-- next call, months before it is needed). The service calls it.
CREATE FUNCTION ledger.ensure_event_partitions(months_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET lock_timeout = '2s' AS $$
DECLARE
    month date := ledger.month_of(now());
    made  integer := 0;
BEGIN
    FOR i IN 0..least(greatest(coalesce(months_ahead, 3), 0), 6) LOOP
        BEGIN
            IF ledger.create_event_partition((month + make_interval(months => i))::date) THEN
                made := made + 1;
            END IF;
        EXCEPTION WHEN lock_not_available OR duplicate_table THEN
            NULL;  -- another caller holds the lock or made it: the next call sees to it
        END;
    END LOOP;
    RETURN made;
END
$$;
REVOKE ALL ON FUNCTION ledger.ensure_event_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.ensure_event_partitions(integer) TO ledger_service;

-- The store's partitions, oldest first.
CREATE FUNCTION ledger.event_partitions() RETURNS TABLE (month date, name text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_date(substr(c.relname, 8), 'YYYY_MM'), c.relname::text
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'ledger.events'::regclass AND NOT i.inhdetachpending
     ORDER BY 1
$$;
GRANT EXECUTE ON FUNCTION ledger.event_partitions() TO ledger_service;

-- 2. Retention's records -----------------------------------------------------------------------

-- One row per month taken out of the store, oldest first: 'retiring' from the moment it is chosen
-- (its streams are frozen: they take no more events), 'anchored' once its sessions are pruned from
-- the read models and the seals' anchor is written (also as a RetentionCut event, at
-- `record_position`), 'dropped' when its partition is gone.
CREATE TABLE ledger.retention_cuts (
    cut                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_month        date NOT NULL UNIQUE,
    state               text NOT NULL DEFAULT 'retiring' CHECK (state IN ('retiring', 'anchored', 'dropped')),
    retention           text NOT NULL,              -- the setting it was cut under ("24 months")
    requested_by        text NOT NULL,
    pruned_after        text NOT NULL DEFAULT '',    -- the last session stream pruned from the read models
    sessions_pruned     bigint NOT NULL DEFAULT 0,
    events              bigint,                     -- how many events the partition held
    oldest_recorded_at  timestamptz,
    newest_recorded_at  timestamptz,
    -- Every seal up to this one held only events of months now gone; its chain as it was.
    retired_seal        bigint,
    retired_seal_chain  bytea,
    -- The RetentionCut event that records the anchor in the store itself.
    record_position     bigint,
    started_at          timestamptz NOT NULL DEFAULT now(),
    dropped_at          timestamptz
);

-- The hashes of the events that went, for the seals that also hold events kept: verify
-- recomputes those seals' chains from them.
CREATE TABLE ledger.retention_dropped_hashes (
    global_position bigint PRIMARY KEY,
    seal            bigint NOT NULL,
    hash            bytea NOT NULL,
    cut             bigint NOT NULL REFERENCES ledger.retention_cuts (cut)
);
CREATE INDEX retention_dropped_hashes_cut_idx ON ledger.retention_dropped_hashes (cut, global_position);

-- Seals looked up by their place in the store's order.
CREATE INDEX seals_transaction_id_global_position_idx ON ledger.seals (transaction_id, global_position);

-- What the read models said about the sessions that went, for a rebuild to count them again:
-- the rollups of db/0016 (per EVSE and hour) and the EVSE summaries' all-time figures.
CREATE TABLE ledger.retired_error_hours (
    evse_id     text NOT NULL,
    hour        timestamptz NOT NULL,
    error_type  text NOT NULL,
    phase       text NOT NULL,
    operator_id text NOT NULL,
    errors      bigint NOT NULL,
    PRIMARY KEY (evse_id, hour, error_type, phase)
);
CREATE TABLE ledger.retired_session_hours (
    evse_id              text NOT NULL,
    hour                 timestamptz NOT NULL,
    operator_id          text NOT NULL,
    sessions             bigint NOT NULL,
    sessions_with_errors bigint NOT NULL,
    abrupt_ends          bigint NOT NULL,
    PRIMARY KEY (evse_id, hour)
);
CREATE TABLE ledger.retired_evse_summary (LIKE projection_evse_errors.evse_summary INCLUDING ALL);

GRANT SELECT ON ledger.retention_cuts, ledger.retention_dropped_hashes,
                ledger.retired_error_hours, ledger.retired_session_hours, ledger.retired_evse_summary TO ledger_service;

-- Two count maps ({"ErrorType": n}) added.
CREATE FUNCTION ledger.add_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
      FROM (SELECT key, sum(value::bigint) AS total
              FROM (SELECT * FROM jsonb_each_text(coalesce(a, '{}')) UNION ALL SELECT * FROM jsonb_each_text(coalesce(b, '{}'))) x
             GROUP BY key) y
$$;

-- 3. The append functions: heads and ids from the side tables, and the stream's month -----------

CREATE OR REPLACE FUNCTION ledger.append_batch(batch jsonb)
RETURNS TABLE (
    request         integer,
    outcome         text,
    stream_version  integer,
    first_position  bigint,
    last_position   bigint,
    transaction_id  xid8
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    streams   text[];
    expected  integer[];  -- NULL: any version
    counts    integer[];
    repeated  jsonb;      -- streams that occur in more than one append of this batch
    stored    jsonb;      -- append (1-based, as text) -> [ids found, first, last, version, tx]
    current   jsonb;      -- stream -> its version now
    months    jsonb;      -- stream -> the month its events go to
    outcomes  text[];
    bases     integer[];  -- the stream's version before the append
    n         integer;
    v         integer;
    tx        xid8;
    this_month date := ledger.month_of(now());
BEGIN
    SELECT array_agg(a.value->>'stream' ORDER BY a.ordinality),
           array_agg(CASE WHEN jsonb_typeof(a.value->'expected') = 'number' THEN (a.value->>'expected')::integer END ORDER BY a.ordinality),
           array_agg(jsonb_array_length(a.value->'events') ORDER BY a.ordinality)
      INTO streams, expected, counts
      FROM jsonb_array_elements(batch) WITH ORDINALITY AS a;
    n := coalesce(cardinality(streams), 0);
    IF n = 0 THEN
        RETURN;
    END IF;

    SELECT coalesce(jsonb_object_agg(s.stream, true), '{}'::jsonb) INTO repeated
      FROM (SELECT u.stream FROM unnest(streams) AS u(stream) GROUP BY u.stream HAVING count(*) > 1) AS s;

    -- Only when some id is stored is the store itself read: a statement on the partitioned table
    -- locks every partition it may touch, which a batch of new events need not pay for.
    stored := '{}'::jsonb;
    -- Each id an index probe (OFFSET 0: never a hash of the whole table, whatever the estimates).
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(batch) AS a CROSS JOIN LATERAL jsonb_array_elements(a.value->'events') AS e
                CROSS JOIN LATERAL (SELECT 1 FROM ledger.event_ids i WHERE i.event_id = (e.value->>'id')::uuid OFFSET 0) AS i) THEN
        SELECT coalesce(jsonb_object_agg(x.req, jsonb_build_array(x.found, x.first, x.last, x.version, x.tx::text)), '{}'::jsonb)
          INTO stored
          FROM (SELECT a.ordinality AS req, count(*) AS found, min(ev.global_position) AS first, max(ev.global_position) AS last,
                       max(ev.stream_version) AS version, min(ev.transaction_id) AS tx
                  FROM jsonb_array_elements(batch) WITH ORDINALITY AS a
                  CROSS JOIN LATERAL jsonb_array_elements(a.value->'events') AS e
                  CROSS JOIN LATERAL (SELECT i.global_position, i.stream_month FROM ledger.event_ids i
                                       WHERE i.event_id = (e.value->>'id')::uuid OFFSET 0) AS i
                  CROSS JOIN LATERAL (SELECT ev.global_position, ev.stream_version, ev.transaction_id FROM ledger.events ev
                                       WHERE ev.global_position = i.global_position AND ev.stream_month = i.stream_month OFFSET 0) AS ev
                 GROUP BY a.ordinality) AS x;
    END IF;

    SELECT coalesce(jsonb_object_agg(h.stream_id, h.stream_version), '{}'::jsonb),
           coalesce(jsonb_object_agg(h.stream_id, h.stream_month), '{}'::jsonb)
      INTO current, months
      FROM (SELECT DISTINCT s FROM unnest(streams) AS s) AS u(stream)
      CROSS JOIN LATERAL (SELECT h.stream_id, h.stream_version, h.stream_month FROM ledger.streams h
                           WHERE h.stream_id = u.stream OFFSET 0) AS h;

    outcomes := array_fill(NULL::text, ARRAY[n]);
    bases := array_fill(NULL::integer, ARRAY[n]);
    FOR i IN 1..n LOOP
        IF stored ? i::text THEN
            outcomes[i] := CASE WHEN (stored->i::text->>0)::integer = counts[i] THEN 'duplicate' ELSE 'id_reused' END;
            CONTINUE;
        END IF;
        v := coalesce((current->>streams[i])::integer, 0);
        bases[i] := v;
        IF expected[i] IS NOT NULL AND expected[i] <> v THEN
            outcomes[i] := 'conflict';
            CONTINUE;
        END IF;
        outcomes[i] := 'appended';
        IF repeated ? streams[i] THEN
            current := jsonb_set(current, ARRAY[streams[i]], to_jsonb(v + counts[i]));
        END IF;
    END LOOP;

    IF 'appended' = ANY (outcomes) THEN
        tx := ledger.current_transaction_id();
    END IF;

    RETURN QUERY
    WITH accepted AS (
        SELECT r AS req, bases[r] AS base FROM generate_subscripts(outcomes, 1) AS r WHERE outcomes[r] = 'appended'
    ), inserted AS (
        INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id, stream_month)
        SELECT streams[acc.req], acc.base + e.ordinality::integer, (e.value->>'id')::uuid, e.value->>'type',
               e.value->'data', coalesce(e.value->'metadata', '{}'::jsonb), tx,
               coalesce((months->>streams[acc.req])::date, this_month)
          FROM accepted AS acc
          CROSS JOIN LATERAL jsonb_array_elements(batch->(acc.req - 1)->'events') WITH ORDINALITY AS e
         ORDER BY acc.req, e.ordinality
        RETURNING ledger.events.stream_id, ledger.events.stream_version, ledger.events.global_position
    ), positions AS (
        SELECT acc.req, min(ins.global_position) AS first, max(ins.global_position) AS last
          FROM accepted AS acc
          JOIN inserted AS ins ON ins.stream_id = streams[acc.req]
                              AND ins.stream_version BETWEEN acc.base + 1 AND acc.base + counts[acc.req]
         GROUP BY acc.req
    )
    SELECT (r - 1)::integer,
           outcomes[r],
           CASE outcomes[r]
               WHEN 'appended' THEN bases[r] + counts[r]
               WHEN 'conflict' THEN bases[r]
               ELSE (stored->r::text->>3)::integer
           END,
           CASE WHEN outcomes[r] = 'appended' THEN p.first ELSE (stored->r::text->>1)::bigint END,
           CASE WHEN outcomes[r] = 'appended' THEN p.last ELSE (stored->r::text->>2)::bigint END,
           CASE WHEN outcomes[r] = 'appended' THEN tx ELSE (stored->r::text->>4)::xid8 END
      FROM generate_subscripts(outcomes, 1) AS r
      LEFT JOIN positions AS p ON p.req = r
     ORDER BY r;
END
$$;

CREATE OR REPLACE FUNCTION ledger.append_one(stream text, expected integer, events jsonb)
RETURNS TABLE (
    request         integer,
    outcome         text,
    stream_version  integer,
    first_position  bigint,
    last_position   bigint,
    transaction_id  xid8
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    ids     uuid[];
    found   integer;
    current integer;
    month   date;
    tx      xid8;
BEGIN
    request := 0;
    SELECT array_agg((e->>'id')::uuid) INTO ids FROM jsonb_array_elements(events) AS e;

    SELECT count(*) INTO found FROM ledger.event_ids AS i WHERE i.event_id = ANY (ids);
    IF found > 0 THEN
        -- The store itself is read only now (see append_batch).
        SELECT min(ev.global_position), max(ev.global_position), max(ev.stream_version), min(ev.transaction_id)
          INTO first_position, last_position, stream_version, transaction_id
          FROM ledger.event_ids AS i
          JOIN ledger.events AS ev ON ev.global_position = i.global_position AND ev.stream_month = i.stream_month
         WHERE i.event_id = ANY (ids);
        outcome := CASE WHEN found = cardinality(ids) THEN 'duplicate' ELSE 'id_reused' END;
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT h.stream_version, h.stream_month INTO current, month FROM ledger.streams AS h WHERE h.stream_id = stream;
    current := coalesce(current, 0);
    IF expected IS NOT NULL AND expected <> current THEN
        outcome := 'conflict';
        stream_version := current;
        RETURN NEXT;
        RETURN;
    END IF;
    tx := ledger.current_transaction_id();
    month := coalesce(month, ledger.month_of(now()));
    WITH inserted AS (
        INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id, stream_month)
        SELECT stream, current + e.ordinality::integer, (e.value->>'id')::uuid, e.value->>'type',
               e.value->'data', coalesce(e.value->'metadata', '{}'::jsonb), tx, month
          FROM jsonb_array_elements(events) WITH ORDINALITY AS e
         ORDER BY e.ordinality
        RETURNING ledger.events.global_position
    )
    SELECT min(i.global_position), max(i.global_position) INTO first_position, last_position FROM inserted AS i;
    outcome := 'appended';
    stream_version := current + cardinality(ids);
    transaction_id := tx;
    RETURN NEXT;
END
$$;

-- 4. Retention's steps (the owner's; `error-ledger retention apply` runs them in order) --------

-- Chooses a month to take out and freezes its streams: from the commit on, an event for one of
-- them is refused (LE002) by the chain trigger, which holds the stream's row while it appends, so
-- every event of the month is committed once this returns. Again for a month retiring: freezes
-- what is not frozen yet.
CREATE FUNCTION ledger.retention_begin(month date, retention text, requested_by text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    frozen bigint;
BEGIN
    IF month >= ledger.month_of(now()) THEN
        RAISE EXCEPTION 'month % is not over yet: it cannot go', to_char(month, 'YYYY-MM');
    END IF;
    INSERT INTO ledger.retention_cuts (stream_month, retention, requested_by)
    VALUES (month, retention, requested_by) ON CONFLICT (stream_month) DO NOTHING;
    UPDATE ledger.streams s SET retiring = true WHERE s.stream_month = month AND NOT s.retiring;
    GET DIAGNOSTICS frozen = ROW_COUNT;
    RETURN frozen;
END
$$;
REVOKE ALL ON FUNCTION ledger.retention_begin(date, text, text) FROM PUBLIC;

-- Prunes up to `max_sessions` of a retiring month's sessions from the read models, after adding
-- what they said to the retired aggregates, in one transaction; returns how many (0: done).
CREATE FUNCTION ledger.retention_prune(month date, max_sessions integer) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' AS $$
DECLARE
    c     ledger.retention_cuts;
    ids   text[];
    evses text[];
BEGIN
    SELECT * INTO c FROM ledger.retention_cuts WHERE stream_month = month FOR UPDATE;
    IF NOT FOUND OR c.state <> 'retiring' THEN
        RAISE EXCEPTION 'month % is not retiring', month;
    END IF;
    SELECT array_agg(s.stream_id ORDER BY s.stream_id) INTO ids
      FROM (SELECT DISTINCT e.stream_id FROM ledger.events e
             WHERE e.stream_month = month AND e.stream_id LIKE 'session-%' AND e.stream_id > c.pruned_after
             ORDER BY e.stream_id LIMIT greatest(max_sessions, 1)) s;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    UPDATE ledger.retention_cuts SET pruned_after = ids[cardinality(ids)], sessions_pruned = sessions_pruned + cardinality(ids)
     WHERE cut = c.cut;
    ids := ARRAY(SELECT substr(i, 9) FROM unnest(ids) i);
    SELECT array_agg(DISTINCT s.evse_id) INTO evses FROM projection_evse_errors.sessions s WHERE s.session_id = ANY (ids);

    INSERT INTO ledger.retired_error_hours AS r (evse_id, hour, error_type, phase, operator_id, errors)
    SELECT e.evse_id, date_trunc('hour', e.received_at), e.error_type, e.phase, min(e.operator_id), count(*)
      FROM projection_evse_errors.evse_errors e
     WHERE e.evse_id = ANY (evses) AND e.session_id = ANY (ids)
     GROUP BY 1, 2, 3, 4
    ON CONFLICT (evse_id, hour, error_type, phase) DO UPDATE SET errors = r.errors + excluded.errors;

    INSERT INTO ledger.retired_session_hours AS r (evse_id, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
    SELECT s.evse_id, date_trunc('hour', s.first_received_at), min(s.operator_id), count(*),
           count(*) FILTER (WHERE s.error_count > 0), count(*) FILTER (WHERE s.abrupt_end)
      FROM projection_evse_errors.sessions s
     WHERE s.session_id = ANY (ids)
     GROUP BY 1, 2
    ON CONFLICT (evse_id, hour) DO UPDATE SET sessions = r.sessions + excluded.sessions,
        sessions_with_errors = r.sessions_with_errors + excluded.sessions_with_errors, abrupt_ends = r.abrupt_ends + excluded.abrupt_ends;

    INSERT INTO ledger.retired_evse_summary AS r
    SELECT coalesce(s.evse_id, e.evse_id), coalesce(s.operator_id, e.operator_id), coalesce(e.counts, '{}'::jsonb),
           coalesce(e.total, 0), e.first, e.last, coalesce(s.sessions, 0), coalesce(s.with_errors, 0),
           s.last_id, s.last_status, s.last_at
      FROM (SELECT s.evse_id, min(s.operator_id) AS operator_id, count(*) AS sessions,
                   count(*) FILTER (WHERE s.error_count > 0) AS with_errors,
                   (array_agg(s.session_id ORDER BY s.last_received_at DESC, s.session_id DESC))[1] AS last_id,
                   (array_agg(s.status ORDER BY s.last_received_at DESC, s.session_id DESC))[1] AS last_status,
                   max(s.last_received_at) AS last_at
              FROM projection_evse_errors.sessions s WHERE s.session_id = ANY (ids) GROUP BY s.evse_id) s
      FULL JOIN (SELECT x.evse_id, min(x.operator_id) AS operator_id, jsonb_object_agg(x.error_type, x.n) AS counts,
                        sum(x.n)::integer AS total, min(x.first) AS first, max(x.last) AS last
                   FROM (SELECT e.evse_id, e.error_type, min(e.operator_id) AS operator_id, count(*) AS n,
                                min(e.received_at) AS first, max(e.received_at) AS last
                           FROM projection_evse_errors.evse_errors e
                          WHERE e.evse_id = ANY (evses) AND e.session_id = ANY (ids) GROUP BY 1, 2) x
                  GROUP BY x.evse_id) e ON e.evse_id = s.evse_id
    ON CONFLICT (evse_id) DO UPDATE SET
        error_counts = ledger.add_counts(r.error_counts, excluded.error_counts),
        error_count = r.error_count + excluded.error_count,
        first_error_at = least(r.first_error_at, excluded.first_error_at),
        last_error_at = greatest(r.last_error_at, excluded.last_error_at),
        sessions = r.sessions + excluded.sessions,
        sessions_with_errors = r.sessions_with_errors + excluded.sessions_with_errors,
        last_session_id = CASE WHEN excluded.last_session_received_at > r.last_session_received_at OR r.last_session_received_at IS NULL
                               THEN excluded.last_session_id ELSE r.last_session_id END,
        last_session_status = CASE WHEN excluded.last_session_received_at > r.last_session_received_at OR r.last_session_received_at IS NULL
                                   THEN excluded.last_session_status ELSE r.last_session_status END,
        last_session_received_at = greatest(r.last_session_received_at, excluded.last_session_received_at);

    DELETE FROM projection_sessions.session_events WHERE session_id = ANY (ids);
    DELETE FROM projection_sessions.sessions WHERE session_id = ANY (ids);
    DELETE FROM projection_evse_errors.evse_errors WHERE evse_id = ANY (evses) AND session_id = ANY (ids);
    DELETE FROM projection_evse_errors.sessions WHERE session_id = ANY (ids);
    -- Nothing of theirs is open (retention_blockers); a dead letter retried since cannot be sent.
    DELETE FROM forwarding.deliveries WHERE session_id = ANY (ids);
    RETURN cardinality(ids);
END
$$;
REVOKE ALL ON FUNCTION ledger.retention_prune(date, integer) FROM PUBLIC;

-- SHA-256 over a cut's dropped hashes in position order: each position as 8 bytes (big-endian)
-- and its hash. `verify` computes the same from the table and compares it with the cut's event.
CREATE FUNCTION ledger.retention_digest(cut_id bigint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(coalesce(string_agg(int8send(d.global_position) || d.hash, ''::bytea ORDER BY d.global_position), ''::bytea)), 'hex')
      FROM ledger.retention_dropped_hashes d WHERE d.cut = cut_id
$$;

-- Writes a retiring (frozen, pruned) month's anchor: the newest seal that holds only events of
-- months that go, with its chain, and the hashes of the month's events in later seals.
CREATE FUNCTION ledger.retention_anchor(month date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c         ledger.retention_cuts;
    kept      record;
    retired   ledger.seals;
    last_seal ledger.seals;
    recorded  bigint;
BEGIN
    SELECT * INTO c FROM ledger.retention_cuts WHERE stream_month = month FOR UPDATE;
    IF NOT FOUND OR c.state <> 'retiring' THEN
        RAISE EXCEPTION 'month % is not retiring', month;
    END IF;
    -- Every event of the month must be in a seal for its hash to be anchored (retention_blockers
    -- says so before a run begins; an event still held back behind an open transaction then
    -- is sealed by a later run).
    SELECT * INTO last_seal FROM ledger.seals ORDER BY seal DESC LIMIT 1;
    IF EXISTS (SELECT 1 FROM ledger.events e
                WHERE e.stream_month = month
                  AND (e.transaction_id, e.global_position)
                      > (coalesce(last_seal.transaction_id, '0'::xid8), coalesce(last_seal.global_position, 0))) THEN
        RAISE EXCEPTION 'events of % are not sealed yet: a retiring month is anchored once they are', to_char(month, 'YYYY-MM')
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- The first event kept, in the store's order: every seal that ends before it is retired.
    SELECT e.transaction_id, e.global_position INTO kept FROM ledger.events e
     WHERE e.stream_month > month ORDER BY e.transaction_id, e.global_position LIMIT 1;
    SELECT * INTO retired FROM ledger.seals s
     WHERE kept.transaction_id IS NULL OR (s.transaction_id, s.global_position) < (kept.transaction_id, kept.global_position)
     ORDER BY s.transaction_id DESC, s.global_position DESC LIMIT 1;
    INSERT INTO ledger.retention_dropped_hashes (global_position, seal, hash, cut)
    SELECT e.global_position,
           (SELECT s.seal FROM ledger.seals s WHERE (s.transaction_id, s.global_position) >= (e.transaction_id, e.global_position)
             ORDER BY s.transaction_id, s.global_position LIMIT 1),
           e.hash, c.cut
      FROM ledger.events e
     WHERE e.stream_month = month
       AND (retired.seal IS NULL OR (e.transaction_id, e.global_position) > (retired.transaction_id, retired.global_position))
    ON CONFLICT (global_position) DO NOTHING;
    UPDATE ledger.retention_cuts
       SET (events, oldest_recorded_at, newest_recorded_at) =
               (SELECT count(*), min(e.recorded_at), max(e.recorded_at) FROM ledger.events e WHERE e.stream_month = month)
     WHERE cut = c.cut
     RETURNING * INTO c;
    -- The anchor, also in the store: an event of its own, chained and sealed like every other.
    -- `verify` checks the tables against it.
    SELECT a.first_position INTO recorded
      FROM ledger.append_one('retention-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), NULL, jsonb_build_array(jsonb_build_object(
               'id', gen_random_uuid(), 'type', 'RetentionCut',
               'data', jsonb_build_object(
                   'month', to_char(month, 'YYYY-MM'), 'events', c.events, 'retention', c.retention, 'requested_by', c.requested_by,
                   'retired_seal', retired.seal, 'retired_seal_chain', encode(retired.chain, 'hex'),
                   'dropped_hashes', (SELECT count(*) FROM ledger.retention_dropped_hashes d WHERE d.cut = c.cut),
                   'dropped_digest', ledger.retention_digest(c.cut))))) AS a;
    UPDATE ledger.retention_cuts
       SET state = 'anchored', retired_seal = retired.seal, retired_seal_chain = retired.chain, record_position = recorded
     WHERE cut = c.cut;
END
$$;
REVOKE ALL ON FUNCTION ledger.retention_anchor(date) FROM PUBLIC;

-- After the month's partition is detached: forgets its streams and event ids, and drops it.
CREATE FUNCTION ledger.retention_drop(month date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c    ledger.retention_cuts;
    name text := 'events_' || to_char(month, 'YYYY_MM');
BEGIN
    SELECT * INTO c FROM ledger.retention_cuts WHERE stream_month = month FOR UPDATE;
    IF NOT FOUND OR c.state <> 'anchored' THEN
        RAISE EXCEPTION 'month % is not anchored', month;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = to_regclass('ledger.' || name)) THEN
        RAISE EXCEPTION 'ledger.% is still a partition of ledger.events (or pending detach): detach it first', name;
    END IF;
    IF to_regclass('ledger.' || name) IS NOT NULL THEN
        EXECUTE format('DELETE FROM ledger.event_ids i USING ledger.%I d WHERE i.event_id = d.event_id', name);
        EXECUTE format('DROP TABLE ledger.%I', name);
    END IF;
    DELETE FROM ledger.streams s WHERE s.stream_month = month;
    UPDATE ledger.retention_cuts SET state = 'dropped', dropped_at = now() WHERE cut = c.cut;
END
$$;
REVOKE ALL ON FUNCTION ledger.retention_drop(date) FROM PUBLIC;

-- 5. A rebuild counts the retired sessions again ----------------------------------------------

-- Adds the retired EVSE figures to a (re)built evse_summary of `schema_name`.
CREATE FUNCTION ledger.add_retired_summaries(schema_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format($sql$
        UPDATE %1$I.evse_summary s SET
            error_counts = ledger.add_counts(s.error_counts, r.error_counts),
            error_count = s.error_count + r.error_count,
            first_error_at = least(s.first_error_at, r.first_error_at),
            last_error_at = greatest(s.last_error_at, r.last_error_at),
            sessions = s.sessions + r.sessions,
            sessions_with_errors = s.sessions_with_errors + r.sessions_with_errors,
            last_session_id = CASE WHEN s.last_session_received_at IS NULL THEN r.last_session_id ELSE s.last_session_id END,
            last_session_status = CASE WHEN s.last_session_received_at IS NULL THEN r.last_session_status ELSE s.last_session_status END,
            last_session_received_at = coalesce(s.last_session_received_at, r.last_session_received_at)
          FROM ledger.retired_evse_summary r WHERE r.evse_id = s.evse_id
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.evse_summary (evse_id, operator_id, error_counts, error_count, first_error_at, last_error_at, sessions,
                                       sessions_with_errors, last_session_id, last_session_status, last_session_received_at)
        SELECT r.evse_id, r.operator_id, r.error_counts, r.error_count, r.first_error_at, r.last_error_at, r.sessions,
               r.sessions_with_errors, r.last_session_id, r.last_session_status, r.last_session_received_at
          FROM ledger.retired_evse_summary r
         WHERE NOT EXISTS (SELECT 1 FROM %1$I.evse_summary s WHERE s.evse_id = r.evse_id)
        $sql$, schema_name);
END
$$;
REVOKE ALL ON FUNCTION ledger.add_retired_summaries(text) FROM PUBLIC;

-- db/0016's fill, with the retired sessions' hours added to what the rebuilt tables hold.
CREATE OR REPLACE FUNCTION ledger.fill_statistics(schema_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' SET enable_sort = off AS $$
BEGIN
    EXECUTE format($sql$
        INSERT INTO %1$I.error_hours (evse_id, hour, error_type, phase, operator_id, errors)
        SELECT evse_id, hour, error_type, phase, min(operator_id), sum(errors)
          FROM (SELECT evse_id, date_trunc('hour', received_at) AS hour, error_type, phase, operator_id, 1 AS errors
                  FROM %1$I.evse_errors
                UNION ALL
                SELECT evse_id, hour, error_type, phase, operator_id, errors FROM ledger.retired_error_hours) x
         GROUP BY 1, 2, 3, 4
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.session_hours (evse_id, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
        SELECT evse_id, hour, min(operator_id), sum(sessions), sum(sessions_with_errors), sum(abrupt_ends)
          FROM (SELECT evse_id, date_trunc('hour', first_received_at) AS hour, operator_id, 1 AS sessions,
                       (error_count > 0)::integer AS sessions_with_errors, abrupt_end::integer AS abrupt_ends
                  FROM %1$I.sessions
                UNION ALL
                SELECT evse_id, hour, operator_id, sessions, sessions_with_errors, abrupt_ends FROM ledger.retired_session_hours) x
         GROUP BY 1, 2
        $sql$, schema_name);
    EXECUTE format($sql$
        WITH k AS MATERIALIZED (
            SELECT evse_id, operator_id, ledger.operator_key(operator_id) AS operator_key,
                   coalesce(ledger.evse_operator_key(evse_id), '') AS evse_operator_key
              FROM (SELECT DISTINCT evse_id, operator_id FROM %1$I.error_hours) d)
        INSERT INTO %1$I.operator_error_hours (operator_key, evse_operator_key, hour, error_type, phase, operator_id, errors)
        SELECT k.operator_key, k.evse_operator_key, e.hour, e.error_type, e.phase, min(e.operator_id), sum(e.errors)
          FROM %1$I.error_hours e JOIN k USING (evse_id, operator_id) GROUP BY 1, 2, 3, 4, 5
        $sql$, schema_name);
    EXECUTE format($sql$
        WITH k AS MATERIALIZED (
            SELECT evse_id, operator_id, ledger.operator_key(operator_id) AS operator_key,
                   coalesce(ledger.evse_operator_key(evse_id), '') AS evse_operator_key
              FROM (SELECT DISTINCT evse_id, operator_id FROM %1$I.session_hours) d)
        INSERT INTO %1$I.operator_session_hours
               (operator_key, evse_operator_key, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
        SELECT k.operator_key, k.evse_operator_key, e.hour, min(e.operator_id), sum(e.sessions), sum(e.sessions_with_errors),
               sum(e.abrupt_ends)
          FROM %1$I.session_hours e JOIN k USING (evse_id, operator_id) GROUP BY 1, 2, 3
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.operator_error_days (operator_key, evse_operator_key, day, error_type, phase, operator_id, errors)
        SELECT operator_key, evse_operator_key, hour::date, error_type, phase, min(operator_id), sum(errors)
          FROM %1$I.operator_error_hours GROUP BY 1, 2, 3, 4, 5
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.operator_session_days
               (operator_key, evse_operator_key, day, operator_id, sessions, sessions_with_errors, abrupt_ends)
        SELECT operator_key, evse_operator_key, hour::date, min(operator_id), sum(sessions), sum(sessions_with_errors), sum(abrupt_ends)
          FROM %1$I.operator_session_hours GROUP BY 1, 2, 3
        $sql$, schema_name);
END
$$;

-- 6. Erasures are recorded in a stream per month (`erasures-YYYY-MM`), so that their records go
-- with their month like every other stream's, and no stream outlives its partition.
CREATE OR REPLACE FUNCTION ledger.erase_identification(erased_subject bytea, rejection_keys uuid[], event_id uuid, data jsonb, metadata jsonb)
RETURNS TABLE (keys_deleted integer, global_position bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    deleted integer;
BEGIN
    WITH gone AS (
        DELETE FROM ledger.identification_keys k
         WHERE k.key_id IN (SELECT s.key_id FROM ledger.identification_subjects s WHERE s.subject = erased_subject)
            OR (k.rejection AND k.key_id = ANY (rejection_keys))
        RETURNING k.key_id)
    SELECT count(*) INTO deleted FROM gone;
    keys_deleted := deleted;
    SELECT a.first_position INTO global_position
      FROM ledger.append_one('erasures-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), NULL,
                             jsonb_build_array(jsonb_build_object('id', event_id, 'type', 'IdentificationErased',
                                                                  'data', data || jsonb_build_object('keys_deleted', deleted),
                                                                  'metadata', metadata))) AS a;
    RETURN NEXT;
END
$$;

-- 7. What keeps a month from going: each reason with how many, none when it can go.
CREATE FUNCTION ledger.retention_blockers(month date) RETURNS TABLE (reason text, count bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_seal ledger.seals;
    newest    record;
BEGIN
    SELECT * INTO last_seal FROM ledger.seals ORDER BY seal DESC LIMIT 1;
    reason := 'events not sealed yet (the active projector seals every 10 s)';
    SELECT count(*) INTO count FROM ledger.events e
     WHERE e.stream_month = month
       AND (e.transaction_id, e.global_position) > (coalesce(last_seal.transaction_id, '0'::xid8), coalesce(last_seal.global_position, 0));
    IF count > 0 THEN RETURN NEXT; END IF;

    SELECT e.transaction_id, e.global_position INTO newest FROM ledger.events e
     WHERE e.stream_month = month ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1;
    -- A ledger that never forwarded (no LEDGER_HUBJECT_URL) has a forwarder checkpoint at 0.
    IF newest.transaction_id IS NOT NULL THEN
        reason := 'read model "sessions" not past the month''s newest event (projector behind or stopped)';
        SELECT count(*) INTO count FROM projection_sessions.checkpoint c
         WHERE (c.transaction_id, c.position) < (newest.transaction_id::text::bigint, newest.global_position);
        IF count > 0 THEN RETURN NEXT; END IF;
        reason := 'read model "evse_errors" not past the month''s newest event (projector behind or stopped)';
        SELECT count(*) INTO count FROM projection_evse_errors.checkpoint c
         WHERE (c.transaction_id, c.position) < (newest.transaction_id::text::bigint, newest.global_position);
        IF count > 0 THEN RETURN NEXT; END IF;
        reason := 'forwarder has not taken in the month''s newest event (forwarder behind or stopped)';
        SELECT count(*) INTO count FROM forwarding.checkpoint c
         WHERE c.position > 0 AND (c.transaction_id, c.position) < (newest.transaction_id, newest.global_position);
        IF count > 0 THEN RETURN NEXT; END IF;
    END IF;

    reason := 'deliveries to Hubject still open (pending or retrying)';
    SELECT count(*) INTO count FROM forwarding.deliveries d
     WHERE d.state IN ('pending', 'retrying')
       AND EXISTS (SELECT 1 FROM ledger.events e WHERE e.global_position = d.position AND e.stream_month = month);
    IF count > 0 THEN RETURN NEXT; END IF;
END
$$;
REVOKE ALL ON FUNCTION ledger.retention_blockers(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.retention_blockers(date) TO ledger_service;
