-- Tamper evidence (issue #15 §3). The triggers of db/0003 keep the service from changing the
-- history, but the database owner can disable them. These chains make such a change visible to
-- `error-ledger verify`, which recomputes them outside the database:
--
-- 1. Every event carries `hash`: SHA-256 over the hash of the event before it in its stream (the
--    highest lower version; 32 zero bytes when there is none) followed by the event's stored
--    values, UTF-8, joined by newlines:
--        stream_id, stream_version, event_id, event_type, data::text, metadata::text,
--        transaction_id, global_position, recorded_at as microseconds since 1970-01-01 UTC
--    written by a BEFORE INSERT trigger, so every way in (the append functions) writes it. A row
--    that arrives with a hash keeps it: only the owner can insert one (a restore of a dump, whose
--    hashes must stay what they were); the service appends through the append functions, which
--    never pass one. An edited row no longer matches its hash; a row deleted from the middle of
--    a stream leaves a gap in the versions and breaks the next event's chain.
-- 2. Seals chain the store's order: `ledger.seal()` takes the events below the read horizon
--    since the last seal, in (transaction_id, global_position) order, and appends a seal with
--    their positions and sha256(previous seal's chain || each event's hash). A deleted event
--    (the last of its stream, a whole stream) is missing from a seal; a row rewritten with a
--    recomputed hash changes the seal's chain. The service seals every few seconds.
--
-- Someone with the owner's rights can rewrite everything, seals included: what the chains give is
-- evidence against any change made after a seal's chain was recorded elsewhere. `verify` prints
-- the newest seal's chain for that (README, "Data protection").
--
-- Existing events get their hashes here, in one pass in stream and version order (the append-only
-- trigger set aside for it, as the owner). That rewrites each row once, and appends wait for the
-- migration (it holds the table's lock throughout): about 1.5 minutes per million events on a
-- 2-core machine. On a large store, run VACUUM on ledger.events afterwards.

ALTER TABLE ledger.events ADD COLUMN hash bytea;

CREATE FUNCTION ledger.event_hash(
    previous bytea, stream_id text, stream_version integer, event_id uuid, event_type text, data jsonb, metadata jsonb,
    transaction_id xid8, global_position bigint, recorded_at timestamptz
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN sha256(
    coalesce(previous, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    || convert_to(concat_ws(E'\n', stream_id, stream_version, event_id, event_type, data::text, metadata::text, transaction_id,
                            global_position, (extract(epoch FROM recorded_at) * 1000000)::bigint), 'UTF8'));

ALTER TABLE ledger.events DISABLE TRIGGER events_reject_update_delete;
DO $$
DECLARE
    e        record;
    stream   text;
    previous bytea;
BEGIN
    -- One pass: the running hash of the stream being walked, whatever its length (a day's
    -- quarantine stream may hold tens of thousands of versions) and whatever gaps it has.
    FOR e IN SELECT global_position, stream_id, stream_version, event_id, event_type, data, metadata, transaction_id, recorded_at
               FROM ledger.events ORDER BY stream_id, stream_version
    LOOP
        IF stream IS DISTINCT FROM e.stream_id THEN
            stream := e.stream_id;
            previous := NULL;
        END IF;
        previous := ledger.event_hash(previous, e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
                                      e.transaction_id, e.global_position, e.recorded_at);
        UPDATE ledger.events SET hash = previous WHERE global_position = e.global_position;
    END LOOP;
END
$$;
ALTER TABLE ledger.events ENABLE TRIGGER events_reject_update_delete;
ALTER TABLE ledger.events ALTER COLUMN hash SET NOT NULL;

CREATE FUNCTION ledger.chain_event() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    previous bytea;
BEGIN
    IF NEW.hash IS NOT NULL THEN
        RETURN NEW;  -- the owner's insert of a stored row (a restore): it keeps its hash
    END IF;
    -- The event before it in its stream. A row-level BEFORE trigger sees the rows its statement
    -- inserted before this one, so an append of several events to one stream chains them.
    SELECT e.hash INTO previous FROM ledger.events e
     WHERE e.stream_id = NEW.stream_id AND e.stream_version < NEW.stream_version
     ORDER BY e.stream_version DESC LIMIT 1;
    NEW.hash := ledger.event_hash(previous, NEW.stream_id, NEW.stream_version, NEW.event_id, NEW.event_type, NEW.data,
                                  NEW.metadata, NEW.transaction_id, NEW.global_position, NEW.recorded_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain BEFORE INSERT ON ledger.events FOR EACH ROW EXECUTE FUNCTION ledger.chain_event();

CREATE TABLE ledger.seals (
    seal            bigint GENERATED ALWAYS AS IDENTITY,
    -- The seal this one follows (0 for the first): unique, so a seal taken from a stale view of
    -- the seals (a REPEATABLE READ snapshot from before the last one) fails instead of sealing
    -- the same events twice.
    previous_seal   bigint NOT NULL,
    -- The last sealed event's place in the store's order: the next seal starts after it.
    transaction_id  xid8 NOT NULL,
    global_position bigint NOT NULL,
    -- The sealed events, in the store's order.
    positions       bigint[] NOT NULL,
    -- sha256(previous seal's chain, or 32 zero bytes || each sealed event's hash, in order)
    chain           bytea NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT seals_pkey PRIMARY KEY (seal),
    CONSTRAINT seals_previous_seal_key UNIQUE (previous_seal)
);

CREATE TRIGGER seals_reject_update_delete BEFORE UPDATE OR DELETE ON ledger.seals
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER seals_reject_truncate BEFORE TRUNCATE ON ledger.seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();

-- Seals up to `max_events` (1 to 50,000) events below the read horizon that no seal holds yet;
-- returns how many, 0 when another seal is being taken. One seal at a time: a table lock that
-- only a writer of ledger.seals can hold (the service and the analysts may only read it), taken
-- without waiting, so nobody can make a caller (the projector, between its batches) wait. Its
-- commit waits for the WAL flush whatever the session says: a head printed by `verify` must not
-- be lost in a crash and sealed again differently.
CREATE FUNCTION ledger.seal(max_events integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last      ledger.seals;
    sealed    bigint[];
    hashes    bytea;
    last_tx   xid8;
BEGIN
    BEGIN
        LOCK TABLE ledger.seals IN SHARE ROW EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RETURN 0;
    END;
    PERFORM set_config('synchronous_commit', 'on', true);
    SELECT * INTO last FROM ledger.seals ORDER BY seal DESC LIMIT 1;
    SELECT array_agg(e.global_position ORDER BY e.transaction_id, e.global_position),
           string_agg(e.hash, ''::bytea ORDER BY e.transaction_id, e.global_position),
           max(e.transaction_id)
      INTO sealed, hashes, last_tx
      FROM (SELECT ev.global_position, ev.transaction_id, ev.hash FROM ledger.events ev
             WHERE (ev.transaction_id, ev.global_position) > (coalesce(last.transaction_id, '0'::xid8), coalesce(last.global_position, 0))
               AND ev.transaction_id < ledger.read_horizon()
             ORDER BY ev.transaction_id, ev.global_position
             LIMIT least(greatest(coalesce(max_events, 1), 1), 50000)) e;
    IF sealed IS NULL THEN
        RETURN 0;
    END IF;
    -- The last in the store's order (the highest transaction, and its highest position) is
    -- where the next seal starts.
    INSERT INTO ledger.seals (previous_seal, transaction_id, global_position, positions, chain)
    VALUES (coalesce(last.seal, 0), last_tx, sealed[cardinality(sealed)], sealed,
            sha256(coalesce(last.chain, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) || hashes));
    RETURN cardinality(sealed);
END
$$;

REVOKE ALL ON FUNCTION ledger.seal(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.seal(integer) TO ledger_service;
GRANT SELECT ON ledger.seals TO ledger_service;
