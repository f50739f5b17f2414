-- The ledger's transaction clock: the value stored in events.transaction_id and the horizon
-- gap-safe readers stop at.
--
-- Both are pg_current_xact_id() / pg_snapshot_xmin(pg_current_snapshot()) plus an offset.
-- The offset is 0 until the store is restored into a cluster whose transaction counter is
-- behind the stored ids (pg_dump + restore into a new cluster): without it, every restored
-- event would sit above the horizon and readers would stall, and new events would sort before
-- old ones. ledger.realign_transaction_clock() detects that and records a new epoch.

CREATE TABLE ledger.transaction_epochs (
    epoch_id     integer GENERATED ALWAYS AS IDENTITY,
    offset_value bigint NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transaction_epochs_pkey PRIMARY KEY (epoch_id),
    CONSTRAINT transaction_epochs_offset_value_check CHECK (offset_value >= 0)
);

CREATE FUNCTION ledger.transaction_offset() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT offset_value FROM ledger.transaction_epochs ORDER BY epoch_id DESC LIMIT 1), 0)
$$;

-- The id of the calling transaction on the ledger's clock (assigns an xid if it has none).
CREATE FUNCTION ledger.current_transaction_id() RETURNS xid8
LANGUAGE sql VOLATILE AS $$
    SELECT (pg_current_xact_id()::text::bigint + ledger.transaction_offset())::text::xid8
$$;

-- Every transaction on the ledger's clock below this value has ended (committed or rolled
-- back), so no event can still appear below it.
CREATE FUNCTION ledger.read_horizon() RETURNS xid8
LANGUAGE sql STABLE AS $$
    SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint + ledger.transaction_offset())::text::xid8
$$;
