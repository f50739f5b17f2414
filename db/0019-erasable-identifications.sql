-- Erasure of a driver's data in an append-only store (issue #15 §2): crypto-shredding.
--
-- A notification's Identification (an RFID card's UID, an EVCO-ID, a hashed PIN, a Plug&Charge
-- contract) identifies a driver. From this migration on, the ledger keeps no identification in
-- the clear: an event holds the notification without its `Identification`, and the body as
-- received (what the forwarder sends Hubject) encrypted with AES-256-GCM under the key of its
-- identification, kept in the tables below, which, unlike the events, can be deleted from.
-- Erasing an identification deletes its keys: the events stay as they are (append-only, hash
-- chained, counted by every read model), and what identified the driver cannot be read any
-- more, from the database or from a backup taken afterwards.
--
--   identification_keys      one key per identification, found by its primary subject: the
--                            UID of an RFID option, else the EVCO-ID
--                            (or, `rejection`, one refused notification's own key: its kept
--                            bytes may carry an identification, which an erasure finds by
--                            opening them)
--   identification_subjects  every subject the notifications under a key carry: an
--                            RFIDIdentification carries a UID and may carry an EVCO-ID, so
--                            erasing either deletes that key (an EVCO-ID erased deletes every
--                            key it was seen with)
--
-- A subject is HMAC-SHA256 over the kind and the value (`UID:04A2B3C4`, `EVCOID:DE8EOCAET5E4XY3`:
-- upper-cased, without separators), computed by the ledger with the pepper of
-- `LEDGER_IDENTIFICATION_PEPPER` or, when that is not set, the one generated here. A pepper kept
-- outside the database keeps a backup from confirming a guessed identification against the
-- subjects it holds (the erasure events keep theirs).
--
-- Notifications stored before this migration keep their identification in the clear: the
-- events are append-only, and rewriting them would break their hash chains (db/0017).

CREATE TABLE ledger.identification_pepper (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pepper      bytea NOT NULL CHECK (length(pepper) >= 32),
    -- A keyed hash of a fixed text under the pepper in use, recorded by the first process that
    -- names an identification: a process with another pepper (LEDGER_IDENTIFICATION_PEPPER set
    -- on one instance and not on another, or changed) is refused instead of naming the same
    -- identification differently.
    check_value bytea
);
-- 32 random bytes from two random UUIDs (no pgcrypto needed), with their version bits: 244 bits.
INSERT INTO ledger.identification_pepper (pepper)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

CREATE TABLE ledger.identification_keys (
    key_id          uuid PRIMARY KEY,
    primary_subject bytea NOT NULL UNIQUE CHECK (length(primary_subject) = 32),
    key             bytea NOT NULL CHECK (length(key) = 32),
    rejection       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Where an erasure starts reading the quarantine.
CREATE INDEX identification_keys_rejection_created_at_idx ON ledger.identification_keys (created_at) WHERE rejection;

CREATE TABLE ledger.identification_subjects (
    subject bytea NOT NULL CHECK (length(subject) = 32),
    key_id  uuid NOT NULL REFERENCES ledger.identification_keys ON DELETE CASCADE,
    PRIMARY KEY (subject, key_id)
);
CREATE INDEX identification_subjects_key_id_idx ON ledger.identification_subjects (key_id);

-- Records `candidate` as the check value of the pepper in use if none is recorded yet; returns
-- the recorded one.
CREATE FUNCTION ledger.identification_pepper_check(candidate bytea) RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    recorded bytea;
BEGIN
    UPDATE ledger.identification_pepper SET check_value = candidate WHERE check_value IS NULL;
    SELECT check_value INTO recorded FROM ledger.identification_pepper;
    RETURN recorded;
END
$$;

-- The keys of a set of identifications, made where missing. Input: parallel arrays, one element
-- per identification: its primary subject and a key to store if it has none yet (id and bytes,
-- made by the caller's random generator); and, as pairs, every subject each carries (the primary
-- included). Returns each primary subject's key.
--
-- Called before every append of a notification with an identification, so it writes only what
-- is missing (a known identification costs a read, no transaction id and no commit to wait for),
-- and what it writes commits without waiting for the WAL flush: the append that uses the key
-- commits durably afterwards, and so flushes the WAL past the key (an append that never commits
-- leaves a key nothing refers to).
CREATE FUNCTION ledger.identification_keys_for(
    primaries bytea[], candidate_ids uuid[], candidate_keys bytea[], subject_primaries bytea[], subjects bytea[]
) RETURNS TABLE (primary_subject bytea, key_id uuid, key bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    missing boolean;
BEGIN
    -- Each element is looked up through its index (LATERAL): a join of the arrays with the
    -- tables is planned as a scan of every key once the tables are large.
    SELECT EXISTS (SELECT 1 FROM unnest(primaries) AS p(s)
                    CROSS JOIN LATERAL (SELECT count(*) AS n FROM ledger.identification_keys k WHERE k.primary_subject = p.s) f
                    WHERE f.n = 0)
        OR EXISTS (SELECT 1 FROM unnest(subject_primaries, subjects) AS s(p, subject)
                    CROSS JOIN LATERAL (SELECT count(*) AS n FROM ledger.identification_keys k
                                          JOIN ledger.identification_subjects l ON l.subject = s.subject AND l.key_id = k.key_id
                                         WHERE k.primary_subject = s.p) f
                    WHERE f.n = 0)
      INTO missing;
    IF missing THEN
        PERFORM set_config('synchronous_commit', 'off', true);
        INSERT INTO ledger.identification_keys (key_id, primary_subject, key)
        SELECT c.id, c.p, c.k FROM unnest(primaries, candidate_ids, candidate_keys) AS c(p, id, k)
        ON CONFLICT (primary_subject) DO NOTHING;
        INSERT INTO ledger.identification_subjects (subject, key_id)
        SELECT s.subject, k.key_id
          FROM unnest(subject_primaries, subjects) AS s(p, subject)
         CROSS JOIN LATERAL (SELECT k.key_id FROM ledger.identification_keys k WHERE k.primary_subject = s.p) k
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN QUERY SELECT k.primary_subject, k.key_id, k.key FROM ledger.identification_keys k WHERE k.primary_subject = ANY (primaries);
END
$$;

-- A refused notification's key (no subject names it; its primary subject is the key's own id,
-- hashed, so it can never be an identification's).
CREATE FUNCTION ledger.rejection_key(new_key_id uuid, new_key bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- As above: the quarantine's append that uses it commits durably afterwards.
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO ledger.identification_keys (key_id, primary_subject, key, rejection)
    VALUES (new_key_id, sha256(convert_to('rejection:' || new_key_id::text, 'UTF8')), new_key, true);
END
$$;

-- Erases a subject: deletes every key it was seen with, and the refused notifications' keys
-- the caller found it under (`rejection_keys`), and appends the erasure's event (its `data`
-- names the subject and the keys deleted, never the value) to the stream `erasure-requests`, in one
-- transaction. Returns the keys deleted and where the event was stored.
CREATE FUNCTION ledger.erase_identification(erased_subject bytea, rejection_keys uuid[], event_id uuid, data jsonb, metadata jsonb)
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
      FROM ledger.append_one('erasure-requests', NULL,
                             jsonb_build_array(jsonb_build_object('id', event_id, 'type', 'IdentificationErased',
                                                                  'data', data || jsonb_build_object('keys_deleted', deleted),
                                                                  'metadata', metadata))) AS a;
    RETURN NEXT;
END
$$;

REVOKE ALL ON TABLE ledger.identification_pepper, ledger.identification_keys, ledger.identification_subjects FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger.identification_keys_for(bytea[], uuid[], bytea[], bytea[], bytea[]), ledger.rejection_key(uuid, bytea),
    ledger.identification_pepper_check(bytea),
    ledger.erase_identification(bytea, uuid[], uuid, jsonb, jsonb) FROM PUBLIC;
GRANT SELECT ON ledger.identification_pepper, ledger.identification_keys TO ledger_service;
GRANT EXECUTE ON FUNCTION ledger.identification_keys_for(bytea[], uuid[], bytea[], bytea[], bytea[]), ledger.rejection_key(uuid, bytea),
    ledger.identification_pepper_check(bytea),
    ledger.erase_identification(bytea, uuid[], uuid, jsonb, jsonb) TO ledger_service;
