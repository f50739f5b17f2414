-- One subscription mechanism (issue #12): every follower of the store keeps its checkpoint in a
-- one-row table of the same shape (transaction_id, position, events_applied, updated_at), moved
-- by the store's subscription code (Sources/EventStore/Subscription.swift). The forwarder's
-- gains the count the projections' have.
ALTER TABLE forwarding.checkpoint ADD COLUMN events_applied bigint NOT NULL DEFAULT 0;

-- A delivery carries its notification's EVSE and operator, so the delivery views filter by
-- operator without reading the events (only the event store reads ledger.events). Filled for
-- the deliveries taken in before.
ALTER TABLE forwarding.deliveries ADD COLUMN evse_id text, ADD COLUMN operator_id text;
UPDATE forwarding.deliveries d
   SET evse_id = e.data->>'evse_id', operator_id = e.data->>'operator_id'
  FROM ledger.events e
 WHERE e.global_position = d.position;
