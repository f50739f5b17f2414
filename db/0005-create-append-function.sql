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
DECLARE
    append       jsonb;
    ids          uuid[];
    wanted       integer;
    stored       integer;
    current      integer;
    tx           xid8;
BEGIN
    request := -1;
    FOR append IN SELECT value FROM jsonb_array_elements(batch) LOOP
        request := request + 1;
        SELECT array_agg((e->>'id')::uuid) INTO ids FROM jsonb_array_elements(append->'events') AS e;
        wanted := coalesce(cardinality(ids), 0);

        SELECT count(*), min(ev.global_position), max(ev.global_position), max(ev.stream_version), min(ev.transaction_id)
          INTO stored, first_position, last_position, stream_version, transaction_id
          FROM ledger.events ev
         WHERE ev.event_id = ANY (ids);
        IF stored > 0 THEN
            outcome := CASE WHEN stored = wanted THEN 'duplicate' ELSE 'id_reused' END;
            RETURN NEXT;
            CONTINUE;
        END IF;

        SELECT coalesce(max(ev.stream_version), 0) INTO current
          FROM ledger.events ev
         WHERE ev.stream_id = append->>'stream';
        IF jsonb_typeof(append->'expected') = 'number' AND current <> (append->>'expected')::integer THEN
            outcome := 'conflict';
            stream_version := current;
            first_position := NULL;
            last_position := NULL;
            transaction_id := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF tx IS NULL THEN
            tx := ledger.current_transaction_id();
        END IF;
        WITH inserted AS (
            INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id)
            SELECT append->>'stream', current + e.ordinality::integer, (e.value->>'id')::uuid, e.value->>'type',
                   e.value->'data', coalesce(e.value->'metadata', '{}'::jsonb), tx
              FROM jsonb_array_elements(append->'events') WITH ORDINALITY AS e
            RETURNING ledger.events.global_position
        )
        SELECT min(i.global_position), max(i.global_position) INTO first_position, last_position FROM inserted i;
        outcome := 'appended';
        stream_version := current + wanted;
        transaction_id := tx;
        RETURN NEXT;
    END LOOP;
END
$$;
