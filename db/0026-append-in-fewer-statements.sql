-- The group commit's append function in fewer statements (issue #16 §1).
--
-- Most of an append's server CPU was not its work but its statements' overhead. With
-- pg_stat_statements tracking nested statements, `error-ledger-bench append --appenders 16`
-- (group commits of about five appends): `ledger.append_batch` took 0.945 ms a call, its dozen
-- statements 0.51 ms of it when running, and its loop over the events (hashes, positions, array
-- appends; timed alone: 8 µs an event) about 0.04 ms. The rest, about 0.4 ms, is spent around
-- the statements: a plan taken from the cache and its locks, an executor set up and torn down, a
-- snapshot. So the batch is read in one statement (its appends, the streams sorted and each
-- append's place among them, every event id), not four; and the events, their ids and the
-- streams' heads are written in the statement that returns the outcomes (data-modifying `WITH`:
-- each part runs once, to completion), not in four more. Seven statements where there were
-- twelve. The locked read of the heads and the lookup of the ids stay apart, in that order: a
-- batch that waited for another's heads must then see that commit's events, which one
-- statement's snapshot, taken before the wait, would not. Measured: the call 0.910 / 0.955 /
-- 1.022 ms before, 0.853 / 0.914 / 0.909 ms after (three pairs taking turns, pg_stat_statements,
-- the same benchmark): 4–11% less.
--
-- `ledger.append_one` was tried the same way (the head locked first and the event chained in the
-- function instead of by the row trigger; four statements where there are eight) and measured
-- level (`pgbench -M prepared`, one client, mean time of the call: 0.292 / 0.275, 0.292 / 0.292,
-- 0.253 / 0.257 ms): it stays as it is.
--
-- Unchanged: outcomes and their order, the hash of every event (same function, same inputs:
-- `verify` is unchanged), a second writer of a new stream failing on the head's primary key (the
-- group commit runs that append again), LE002 for a stream that retention freezes, one NOTIFY
-- for a batch that appends and none for one that does not, the settings of db/0025 (given
-- again: CREATE OR REPLACE resets them).

CREATE OR REPLACE FUNCTION ledger.append_batch(batch jsonb)
RETURNS TABLE (
    request         integer,
    outcome         text,
    stream_version  integer,
    first_position  bigint,
    last_position   bigint,
    transaction_id  xid8
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
#variable_conflict use_column
DECLARE
    streams   text[];
    expected  integer[];  -- NULL: any version
    counts    integer[];
    ids       uuid[];     -- every event's id
    stored    jsonb;      -- append (1-based, as text) -> [ids found, first, last, version, tx]
    slots     integer[];  -- append -> its stream's index in the s_ arrays
    s_stream  text[];     -- the batch's streams, each once, in order; then their heads:
    s_version integer[];  -- version (0: a new stream)
    s_hash    bytea[];
    s_month   date[];
    s_known   boolean[];  -- the stream exists
    s_retiring boolean[];
    s_moved   boolean[];  -- an append of this batch moves it
    outcomes  text[];
    bases     integer[];
    firsts    bigint[];
    lasts     bigint[];
    e_pos     bigint[] := '{}';
    e_stream  text[] := '{}';
    e_version integer[] := '{}';
    e_id      uuid[] := '{}';
    e_type    text[] := '{}';
    e_data    jsonb[] := '{}';
    e_meta    jsonb[] := '{}';
    e_hash    bytea[] := '{}';
    e_month   date[] := '{}';
    n         integer;
    k         integer;
    v         integer;
    pos       bigint;
    h         bytea;
    evs       jsonb;
    ev        jsonb;
    id        uuid;
    d         jsonb;
    m         jsonb;
    tx        xid8;
    at        timestamptz := now();
    this_month date := ledger.month_of(now());
    seq       regclass := pg_get_serial_sequence('ledger.events', 'global_position')::regclass;
BEGIN
    -- The batch in one read: its appends in order, its streams each once and sorted (the order
    -- their heads are locked in) with each append's place among them, and every event's id.
    SELECT array_agg(a.stream ORDER BY a.ordinality),
           array_agg(CASE WHEN jsonb_typeof(a.value->'expected') = 'number' THEN (a.value->>'expected')::integer END ORDER BY a.ordinality),
           array_agg(jsonb_array_length(a.value->'events') ORDER BY a.ordinality),
           array_agg(DISTINCT a.stream ORDER BY a.stream),
           array_agg(a.slot ORDER BY a.ordinality),
           (SELECT array_agg((e.value->>'id')::uuid)
              FROM jsonb_array_elements(batch) AS b CROSS JOIN LATERAL jsonb_array_elements(b.value->'events') AS e)
      INTO streams, expected, counts, s_stream, slots, ids
      FROM (SELECT x.value, x.ordinality, x.value->>'stream' AS stream,
                   dense_rank() OVER (ORDER BY x.value->>'stream')::integer AS slot
              FROM jsonb_array_elements(batch) WITH ORDINALITY AS x) AS a;
    n := coalesce(cardinality(streams), 0);
    IF n = 0 THEN
        RETURN;
    END IF;

    -- Their heads, locked one by one in that order (two batches never wait on each other in a
    -- cycle), so the versions decided below are the ones the writes build on. Before the ids are
    -- looked for: a batch that waited here for another's commit then sees that commit's events,
    -- and an append of the same events is a replay, not a conflict with their version.
    SELECT array_agg(coalesce(h.stream_version, 0) ORDER BY d.k), array_agg(h.hash ORDER BY d.k),
           array_agg(coalesce(h.stream_month, this_month) ORDER BY d.k), array_agg(h.stream_id IS NOT NULL ORDER BY d.k),
           array_agg(coalesce(h.retiring, false) ORDER BY d.k)
      INTO s_version, s_hash, s_month, s_known, s_retiring
      FROM unnest(s_stream) WITH ORDINALITY AS d(s, k)
      LEFT JOIN LATERAL (SELECT h.stream_id, h.stream_version, h.hash, h.stream_month, h.retiring FROM ledger.streams AS h
                          WHERE h.stream_id = d.s FOR UPDATE) AS h ON true;
    s_moved := array_fill(false, ARRAY[cardinality(s_stream)]);

    -- Event ids stored before: one probe of the ids' index for the whole batch, and only when
    -- some id is found is the store itself read (db/0020).
    stored := '{}'::jsonb;
    IF EXISTS (SELECT 1 FROM ledger.event_ids AS i WHERE i.event_id = ANY (ids)) THEN
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

    outcomes := array_fill(NULL::text, ARRAY[n]);
    bases := array_fill(NULL::integer, ARRAY[n]);
    firsts := array_fill(NULL::bigint, ARRAY[n]);
    lasts := array_fill(NULL::bigint, ARRAY[n]);
    -- In order, so that later appends in a batch see earlier ones: each accepted append's events
    -- get their versions, positions and hashes here, chained from the head (or the stream's
    -- previous append in this batch), and go to the arrays the write below takes.
    FOR i IN 1..n LOOP
        IF stored ? i::text THEN
            outcomes[i] := CASE WHEN (stored->i::text->>0)::integer = counts[i] THEN 'duplicate' ELSE 'id_reused' END;
            CONTINUE;
        END IF;
        k := slots[i];
        v := s_version[k];
        bases[i] := v;
        IF expected[i] IS NOT NULL AND expected[i] <> v THEN
            outcomes[i] := 'conflict';
            CONTINUE;
        END IF;
        IF s_retiring[k] THEN
            RAISE EXCEPTION 'stream % began in %, which retention is taking out of the store: it takes no more events',
                streams[i], to_char(s_month[k], 'YYYY-MM')
                USING ERRCODE = 'LE002', HINT = 'A notification for this session after its month is gone starts it anew.';
        END IF;
        IF tx IS NULL THEN
            tx := ledger.current_transaction_id();
        END IF;
        outcomes[i] := 'appended';
        h := s_hash[k];
        evs := batch->(i - 1)->'events';  -- once per append: taken per event, it was copied per event
        FOR j IN 0..counts[i] - 1 LOOP
            ev := evs->j;
            d := ev->'data';
            m := coalesce(ev->'metadata', '{}'::jsonb);
            id := (ev->>'id')::uuid;
            v := v + 1;
            pos := nextval(seq);
            h := ledger.event_hash(h, streams[i], v, id, ev->>'type', d, m, tx, pos, at);
            IF j = 0 THEN firsts[i] := pos; END IF;
            e_pos := e_pos || pos;
            e_stream := e_stream || streams[i];
            e_version := e_version || v;
            e_id := e_id || id;
            e_type := e_type || (ev->>'type');
            e_data := e_data || d;
            e_meta := e_meta || m;
            e_hash := e_hash || h;
            e_month := e_month || s_month[k];
        END LOOP;
        lasts[i] := CASE WHEN counts[i] > 0 THEN pos END;
        s_version[k] := v;
        s_hash[k] := h;
        s_moved[k] := s_moved[k] OR counts[i] > 0;  -- an append of no events moves nothing
    END LOOP;

    IF tx IS NULL THEN
        -- Nothing appended: no write, no NOTIFY.
        RETURN QUERY
        SELECT (u.r - 1)::integer,
               u.outcome,
               CASE u.outcome WHEN 'conflict' THEN u.base ELSE (stored->u.r::text->>3)::integer END,
               (stored->u.r::text->>1)::bigint,
               (stored->u.r::text->>2)::bigint,
               (stored->u.r::text->>4)::xid8
          FROM unnest(outcomes, bases) WITH ORDINALITY AS u(outcome, base, r)
         ORDER BY u.r;
        RETURN;
    END IF;

    -- The events (with their hashes: the chain trigger passes them by), their ids, the heads that
    -- moved and the streams that begin, and the outcomes: one statement. A second writer of a new
    -- stream waits here for the first's commit and then fails on the head's primary key. The
    -- outcomes come from the arrays unnested once: read element by element in a query, each
    -- access to an array changed in place copied it whole (10 ms for a batch of 1,000).
    RETURN QUERY
    WITH written_events AS (
        INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, data, metadata,
                                   transaction_id, recorded_at, hash, stream_month)
        OVERRIDING SYSTEM VALUE
        SELECT * FROM unnest(e_pos, e_stream, e_version, e_id, e_type, e_data, e_meta, array_fill(tx, ARRAY[cardinality(e_pos)]),
                             array_fill(at, ARRAY[cardinality(e_pos)]), e_hash, e_month)
    ), written_ids AS (
        INSERT INTO ledger.event_ids (event_id, global_position, stream_month) SELECT * FROM unnest(e_id, e_pos, e_month)
    ), moved_heads AS (
        UPDATE ledger.streams s SET stream_version = u.version, hash = u.hash
          FROM unnest(s_stream, s_version, s_hash, s_known, s_moved) AS u(stream, version, hash, known, moved)
         WHERE s.stream_id = u.stream AND u.known AND u.moved
    ), new_heads AS (
        INSERT INTO ledger.streams (stream_id, stream_version, hash, stream_month)
        SELECT u.stream, u.version, u.hash, u.month
          FROM unnest(s_stream, s_version, s_hash, s_month, s_known, s_moved) AS u(stream, version, hash, month, known, moved)
         WHERE NOT u.known AND u.moved
    )
    SELECT (u.r - 1)::integer,
           u.outcome,
           CASE u.outcome
               WHEN 'appended' THEN u.base + u.count
               WHEN 'conflict' THEN u.base
               ELSE (stored->u.r::text->>3)::integer
           END,
           CASE WHEN u.outcome = 'appended' THEN u.first ELSE (stored->u.r::text->>1)::bigint END,
           CASE WHEN u.outcome = 'appended' THEN u.last ELSE (stored->u.r::text->>2)::bigint END,
           CASE WHEN u.outcome = 'appended' THEN tx ELSE (stored->u.r::text->>4)::xid8 END
      FROM unnest(outcomes, bases, counts, firsts, lasts) WITH ORDINALITY AS u(outcome, base, count, first, last, r)
     ORDER BY u.r;
END
$$;
