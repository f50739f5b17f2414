-- Forwarding (issue #5), second part.
--
-- intake_seq: the order the forwarder took deliveries in. Positions are not that order: the
-- intake follows the store's gap-safe order (commit order), and a transaction that commits
-- late can hold a lower position than rows taken in before it. The active forwarder loads open
-- deliveries into memory by intake_seq, so none is passed over.
ALTER TABLE forwarding.deliveries ADD COLUMN intake_seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX deliveries_open_intake_idx ON forwarding.deliveries (intake_seq) WHERE state IN ('pending', 'retrying');

-- Delivery operations: /v1/deliveries/{id} finds a delivery by its notification's event id,
-- and /v1/deliveries/summary counts what finished in a recent window.
CREATE INDEX deliveries_event_idx ON forwarding.deliveries (event_id);
CREATE INDEX deliveries_finished_idx ON forwarding.deliveries (finished_at) WHERE finished_at IS NOT NULL;
