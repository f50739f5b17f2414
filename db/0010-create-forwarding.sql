-- Forwarding to Hubject (issue #5): where the forwarder is in the store's gap-safe order, and the
-- delivery state of each notification it took in. The events stay the outbox: a notification is
-- taken in only once it is committed, and every attempt's outcome is also an event, in the
-- session's delivery stream (`delivery-<SessionID>`). This table is the forwarder's working
-- state, rebuilt from nothing by replaying from the checkpoint's start.

CREATE SCHEMA forwarding;

CREATE TABLE forwarding.checkpoint (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    transaction_id xid8 NOT NULL DEFAULT '0',
    position       bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO forwarding.checkpoint DEFAULT VALUES;

CREATE TABLE forwarding.deliveries (
    position          bigint PRIMARY KEY,          -- the notification event's global position
    event_id          uuid NOT NULL,
    session_id        text NOT NULL,
    notification_type text NOT NULL CHECK (notification_type IN ('Start', 'Progress', 'End', 'Error')),
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'retrying', 'delivered', 'refused', 'dead', 'superseded')),
    attempts          integer NOT NULL DEFAULT 0,
    first_attempt_at  timestamptz,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    status_code       text,                          -- Hubject's StatusCode.Code of the last answer
    reason            text,                          -- why the last attempt did not deliver
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);

-- The forwarder's scan: open deliveries in store order.
CREATE INDEX deliveries_open_idx ON forwarding.deliveries (position) WHERE state IN ('pending', 'retrying');
-- A session's deliveries (its last accepted Progress; /v1/deliveries?session=).
CREATE INDEX deliveries_session_idx ON forwarding.deliveries (session_id, position);
CREATE INDEX deliveries_state_idx ON forwarding.deliveries (state, position);

GRANT USAGE ON SCHEMA forwarding TO ledger_service;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA forwarding TO ledger_service;
