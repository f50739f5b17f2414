-- Read models: the per-session and per-EVSE error timelines (issue #3).
--
-- Two projections, each in a schema of its own with its own checkpoint, so that a projection is
-- rebuilt by building a fresh copy of its schema (CREATE TABLE … (LIKE … INCLUDING ALL)) and
-- renaming it into place: readers see the old model until the rename commits, the new one after.
-- These tables are ordinary (not append-only): the projector rewrites summary rows, and a
-- rebuild replaces them all. The events table stays the only source of truth.
--
-- A rebuilt copy gets the same index names (the rebuild recreates the live schema's indexes).

-- projection "sessions": the session timeline and session summary ---------------------------

CREATE SCHEMA projection_sessions;

-- The position in the gap-safe global order up to which this schema's tables are folded.
-- One row; the projector compares-and-sets it first in every batch transaction.
CREATE TABLE projection_sessions.checkpoint (
    projection     text PRIMARY KEY,
    transaction_id bigint NOT NULL DEFAULT 0,
    position       bigint NOT NULL DEFAULT 0,
    events_applied bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projection_sessions.checkpoint (projection) VALUES ('sessions');

-- One row per session: the summary read model, and the fold's state. Rewritten by every batch
-- that touches the session, as an update in place: keep indexes off columns that change.
CREATE TABLE projection_sessions.sessions (
    session_id             text PRIMARY KEY,
    evse_id                text NOT NULL,
    operator_id            text NOT NULL,
    cpo_partner_session_id text,
    emp_partner_session_id text,
    status                 text NOT NULL CHECK (status IN ('authorized', 'charging', 'errored', 'ended')),
    charging_started       boolean NOT NULL,
    ended                  boolean NOT NULL,
    start_received         boolean NOT NULL,
    charging_start_text    text,          -- as sent, with its offset
    charging_start         timestamptz,
    charging_end_text      text,
    charging_end           timestamptz,
    consumed_energy        numeric(14, 3), -- kWh
    meter_value_start      numeric(14, 3),
    error_count            integer NOT NULL,
    first_error_at         timestamptz,
    last_error_at          timestamptz,
    last_error_type        text,
    anomaly_count          integer NOT NULL,
    event_count            integer NOT NULL,
    first_received_at      timestamptz NOT NULL,
    last_received_at       timestamptz NOT NULL,
    last_position          bigint NOT NULL,
    open_errors            bigint[] NOT NULL
);

-- Every lifecycle event and error of a session, in the order the ledger applied them.
CREATE TABLE projection_sessions.session_events (
    session_id            text NOT NULL,
    seq                   integer NOT NULL,
    position              bigint NOT NULL,
    event_id              uuid NOT NULL,
    event_type            text NOT NULL,
    notification_type     text NOT NULL,
    evse_id               text NOT NULL,
    received_at           timestamptz NOT NULL,
    occurred_at_text      text,
    occurred_at           timestamptz,
    error_type            text,
    error_additional_info text,
    phase                 text CHECK (phase IN ('before_charging', 'during_charging', 'abrupt_end')),
    anomalies             jsonb NOT NULL,
    details               jsonb NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- projection "evse_errors": EVSE error timeline, EVSE summary, fleet error feed --------------

CREATE SCHEMA projection_evse_errors;

CREATE TABLE projection_evse_errors.checkpoint (LIKE projection_sessions.checkpoint INCLUDING ALL);
INSERT INTO projection_evse_errors.checkpoint (projection) VALUES ('evse_errors');

-- The fold's per-session state (the same shape as the session summary; this projection keeps its
-- own, so that each projection can be rebuilt alone).
CREATE TABLE projection_evse_errors.sessions (LIKE projection_sessions.sessions INCLUDING ALL);

-- Every error, one row each: newest first per EVSE, per operator, and fleet-wide.
CREATE TABLE projection_evse_errors.evse_errors (
    position              bigint PRIMARY KEY,
    event_id              uuid NOT NULL,
    evse_id               text NOT NULL,
    operator_id           text NOT NULL,
    session_id            text NOT NULL,
    session_seq           integer NOT NULL,
    error_type            text NOT NULL,
    error_additional_info text,
    received_at           timestamptz NOT NULL,
    phase                 text NOT NULL CHECK (phase IN ('before_charging', 'during_charging', 'abrupt_end'))
);
-- Per EVSE: a rebuild writes the table in this order, so one EVSE's errors share heap pages.
CREATE INDEX ON projection_evse_errors.evse_errors (evse_id, received_at DESC, position DESC);
-- Fleet-wide and per operator: covering, so the newest errors come from the index alone (rows
-- the projector added since the last vacuum are fetched from the heap, where they sit together).
CREATE INDEX evse_errors_operator_id_received_at_idx ON projection_evse_errors.evse_errors (operator_id, received_at DESC, position DESC)
    INCLUDE (event_id, evse_id, error_type, error_additional_info, session_id, session_seq, phase);
CREATE INDEX evse_errors_received_at_idx ON projection_evse_errors.evse_errors (received_at DESC, position DESC)
    INCLUDE (event_id, evse_id, operator_id, error_type, error_additional_info, session_id, session_seq, phase);

-- Per EVSE: all-time counts per error type, first and last error, sessions and error rate, last
-- session. Windowed counts (24 h, 7 d, 30 d) are counted from evse_errors at query time.
CREATE TABLE projection_evse_errors.evse_summary (
    evse_id                  text PRIMARY KEY,
    operator_id              text NOT NULL,
    error_counts             jsonb NOT NULL,
    error_count              integer NOT NULL,
    first_error_at           timestamptz,
    last_error_at            timestamptz,
    sessions                 integer NOT NULL,
    sessions_with_errors     integer NOT NULL,
    last_session_id          text,
    last_session_status      text,
    last_session_received_at timestamptz
);

-- The service reads the models and runs the projectors; rebuilds run as the owner.
GRANT USAGE ON SCHEMA projection_sessions, projection_evse_errors TO ledger_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA projection_sessions TO ledger_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA projection_evse_errors TO ledger_service;
