-- The transaction clock's offset (db/0001), read with a plan kept for the connection's life.
--
-- As a SQL function with a query in it, ledger.transaction_offset() could not be inlined, and
-- PostgreSQL planned its query again in every transaction that called it: every append
-- (ledger.current_transaction_id()) and every gap-safe read (ledger.read_horizon()). For a
-- single append that was about 13% of its server CPU (`pgbench -M prepared` of
-- ledger.append_one, one client: 2,077 appends/s before, 2,397 after). PL/pgSQL keeps the plan
-- of its query per connection; the value is read each call as before, so a realigned clock
-- (db/0006) takes effect at once.
CREATE OR REPLACE FUNCTION ledger.transaction_offset() RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN coalesce((SELECT offset_value FROM ledger.transaction_epochs ORDER BY epoch_id DESC LIMIT 1), 0);
END
$$;
