-- ledger.append_batch: many appends in one statement, so one round trip and one commit serve a
-- whole group-commit batch.
--
-- Input: a JSON array of appends
--   [{"stream": "session-…", "expected": null | 0 | n, "events": [{"id", "type", "data", "metadata"}, …]}, …]
-- where "expected" null means any version, 0 means the stream must not exist yet, and n means
-- the stream's current version must be n.
-- Output: one row per append, in input order:
--   outcome 'appended'   the events were stored; positions and the new stream version
--   outcome 'duplicate'  every event id was stored before (an idempotent replay); the original
--                        positions and version
--   outcome 'conflict'   the expected version did not hold; stream_version is the actual one
--   outcome 'id_reused'  some, not all, of the event ids exist: the caller reused ids
-- Appends are checked and applied in order, so later appends in a batch see earlier ones.
-- A concurrent writer on another connection can still make the INSERT fail with a unique
-- violation; the whole statement then fails and the caller retries the appends one by one.

CREATE FUNCTION ledger.append_batch(batch jsonb)
RETURNS TABLE (
    request         integer,
    outcome         text,
    stream_version  integer,
    first_position  bigint,
    last_position   bigint,
    transaction_id  xid8
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    streams   text[];
    expected  integer[];  -- NULL: any version
    counts    integer[];
    repeated  jsonb;      -- streams that occur in more than one append of this batch
    stored    jsonb;      -- append (1-based, as text) -> [ids found, first, last, version, tx]
    current   jsonb;      -- stream -> its version now
    outcomes  text[];
    bases     integer[];  -- the stream's version before the append
    n         integer;
    v         integer;
    tx        xid8;
BEGIN
    -- The whole batch is decided with three queries and stored with one INSERT; a statement
    -- per append costs ~80 µs each in plpgsql and would make the function the bottleneck.
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

    -- Event ids stored before: an append whose ids all exist is a replay.
    SELECT coalesce(jsonb_object_agg(x.req, jsonb_build_array(x.found, x.first, x.last, x.version, x.tx::text)), '{}'::jsonb)
      INTO stored
      FROM (SELECT a.ordinality AS req, count(*) AS found, min(ev.global_position) AS first, max(ev.global_position) AS last,
                   max(ev.stream_version) AS version, min(ev.transaction_id) AS tx
              FROM jsonb_array_elements(batch) WITH ORDINALITY AS a
              CROSS JOIN LATERAL jsonb_array_elements(a.value->'events') AS e
              JOIN ledger.events ev ON ev.event_id = (e.value->>'id')::uuid
             GROUP BY a.ordinality) AS x;

    SELECT coalesce(jsonb_object_agg(u.stream, (SELECT max(ev.stream_version) FROM ledger.events ev WHERE ev.stream_id = u.stream)) FILTER (WHERE EXISTS (SELECT 1 FROM ledger.events ev WHERE ev.stream_id = u.stream)), '{}'::jsonb)
      INTO current
      FROM (SELECT DISTINCT s AS stream FROM unnest(streams) AS s) AS u;

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
        -- Later appends to the same stream in this batch see this one.
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
        INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id)
        SELECT streams[acc.req], acc.base + e.ordinality::integer, (e.value->>'id')::uuid, e.value->>'type',
               e.value->'data', coalesce(e.value->'metadata', '{}'::jsonb), tx
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

-- ledger.append_one: one append, the same outcomes as one row of ledger.append_batch. A group
-- commit of a single append (every append, at low load) would pay ~200 µs for the batch
-- function's set queries; this does three indexed statements.
--   events: [{"id", "type", "data", "metadata"}, …]; expected: NULL any, 0 no stream, n exact.

CREATE FUNCTION ledger.append_one(stream text, expected integer, events jsonb)
RETURNS TABLE (
    request         integer,
    outcome         text,
    stream_version  integer,
    first_position  bigint,
    last_position   bigint,
    transaction_id  xid8
)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    ids     uuid[];
    found   integer;
    current integer;
    tx      xid8;
BEGIN
    request := 0;
    SELECT array_agg((e->>'id')::uuid) INTO ids FROM jsonb_array_elements(events) AS e;

    SELECT count(*), min(ev.global_position), max(ev.global_position), max(ev.stream_version), min(ev.transaction_id)
      INTO found, first_position, last_position, stream_version, transaction_id
      FROM ledger.events AS ev
     WHERE ev.event_id = ANY (ids);
    IF found > 0 THEN
        outcome := CASE WHEN found = cardinality(ids) THEN 'duplicate' ELSE 'id_reused' END;
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT ev.stream_version INTO current
      FROM ledger.events AS ev
     WHERE ev.stream_id = stream
     ORDER BY ev.stream_version DESC
     LIMIT 1;
    current := coalesce(current, 0);
    IF expected IS NOT NULL AND expected <> current THEN
        outcome := 'conflict';
        stream_version := current;
        RETURN NEXT;
        RETURN;
    END IF;

    tx := ledger.current_transaction_id();
    WITH inserted AS (
        INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id)
        SELECT stream, current + e.ordinality::integer, (e.value->>'id')::uuid, e.value->>'type',
               e.value->'data', coalesce(e.value->'metadata', '{}'::jsonb), tx
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
