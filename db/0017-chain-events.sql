-- Tamper evidence (issue #15 §3). The triggers of db/0003 keep the service from changing the
-- history, but the database owner can disable them. These chains make such a change visible to
-- `error-ledger verify`, which recomputes them outside the database:
--
-- 1. Every event carries `hash`: SHA-256 over the previous event of its stream's hash (32 zero
--    bytes for version 1) followed by the event's stored values, UTF-8, joined by newlines:
--        stream_id, stream_version, event_id, event_type, data::text, metadata::text,
--        transaction_id, global_position, recorded_at as microseconds since 1970-01-01 UTC
--    written by a BEFORE INSERT trigger, so every way in (the append functions) writes it.
--    An edited row no longer matches its hash; a row deleted from the middle of a stream leaves
--    a gap in the versions and breaks the next event's chain.
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
-- Existing events get their hashes here, stream by stream in version order (one UPDATE per
-- version; the append-only trigger is set aside for it, as the owner). That rewrites each row
-- once: on a large store, run VACUUM on ledger.events afterwards.

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
    version integer := 1;
    updated bigint;
BEGIN
    UPDATE ledger.events e
       SET hash = ledger.event_hash(NULL, e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
                                    e.transaction_id, e.global_position, e.recorded_at)
     WHERE e.stream_version = 1;
    LOOP
        version := version + 1;
        UPDATE ledger.events e
           SET hash = ledger.event_hash(p.hash, e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
                                        e.transaction_id, e.global_position, e.recorded_at)
          FROM ledger.events p
         WHERE e.stream_version = version AND p.stream_id = e.stream_id AND p.stream_version = version - 1;
        GET DIAGNOSTICS updated = ROW_COUNT;
        EXIT WHEN updated = 0;
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
    -- A row-level BEFORE trigger sees the rows its statement inserted before this one, so an
    -- append of several events to one stream chains them in order.
    IF NEW.stream_version > 1 THEN
        SELECT e.hash INTO previous FROM ledger.events e
         WHERE e.stream_id = NEW.stream_id AND e.stream_version = NEW.stream_version - 1;
    END IF;
    NEW.hash := ledger.event_hash(previous, NEW.stream_id, NEW.stream_version, NEW.event_id, NEW.event_type, NEW.data,
                                  NEW.metadata, NEW.transaction_id, NEW.global_position, NEW.recorded_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain BEFORE INSERT ON ledger.events FOR EACH ROW EXECUTE FUNCTION ledger.chain_event();

CREATE TABLE ledger.seals (
    seal            bigint GENERATED ALWAYS AS IDENTITY,
    -- The last sealed event's place in the store's order: the next seal starts after it.
    transaction_id  xid8 NOT NULL,
    global_position bigint NOT NULL,
    -- The sealed events, in the store's order.
    positions       bigint[] NOT NULL,
    -- sha256(previous seal's chain, or 32 zero bytes || each sealed event's hash, in order)
    chain           bytea NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT seals_pkey PRIMARY KEY (seal)
);

CREATE TRIGGER seals_reject_update_delete BEFORE UPDATE OR DELETE ON ledger.seals
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER seals_reject_truncate BEFORE TRUNCATE ON ledger.seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();

-- Seals up to `max_events` events below the read horizon that no seal holds yet; returns how
-- many. Seals are taken one at a time (a transaction-level advisory lock), so every event is in
-- exactly one seal, in order.
CREATE FUNCTION ledger.seal(max_events integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last      ledger.seals;
    sealed    bigint[];
    hashes    bytea;
    last_tx   xid8;
    last_pos  bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1818584423, hashtext('ledger.seal'));
    SELECT * INTO last FROM ledger.seals ORDER BY seal DESC LIMIT 1;
    SELECT array_agg(e.global_position ORDER BY e.transaction_id, e.global_position),
           string_agg(e.hash, ''::bytea ORDER BY e.transaction_id, e.global_position),
           max(e.transaction_id)
      INTO sealed, hashes, last_tx
      FROM (SELECT ev.global_position, ev.transaction_id, ev.hash FROM ledger.events ev
             WHERE (ev.transaction_id, ev.global_position) > (coalesce(last.transaction_id, '0'::xid8), coalesce(last.global_position, 0))
               AND ev.transaction_id < ledger.read_horizon()
             ORDER BY ev.transaction_id, ev.global_position
             LIMIT max_events) e;
    IF sealed IS NULL THEN
        RETURN 0;
    END IF;
    -- The last in the store's order: the highest transaction, and its highest position.
    last_pos := sealed[cardinality(sealed)];
    INSERT INTO ledger.seals (transaction_id, global_position, positions, chain)
    VALUES (last_tx, last_pos, sealed,
            sha256(coalesce(last.chain, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) || hashes));
    RETURN cardinality(sealed);
END
$$;

REVOKE ALL ON FUNCTION ledger.seal(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.seal(integer) TO ledger_service;
GRANT SELECT ON ledger.seals TO ledger_service;
