-- The event store: one append-only table, one stream per charging session.

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
    CONSTRAINT events_pkey PRIMARY KEY (global_position),
    CONSTRAINT events_stream_id_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_check CHECK (stream_version > 0),
    CONSTRAINT events_stream_id_check CHECK (stream_id ~ '^[a-z]+-[^[:space:]]{1,200}$'),
    CONSTRAINT events_event_type_check CHECK (event_type ~ '^[A-Z][A-Za-z]{0,99}$')
);

-- Gap-safe readers scan in (transaction_id, global_position) order from their checkpoint.
CREATE INDEX events_transaction_id_global_position_idx ON ledger.events (transaction_id, global_position);
