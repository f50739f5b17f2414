-- The service role appends only through the append functions (issue #11).
--
-- With INSERT on ledger.events, the role could write a row of its choosing: a transaction_id
-- other than its own, or a global_position by OVERRIDING SYSTEM VALUE, and so put an event
-- behind a reader's checkpoint, where no follower of the store would ever see it. The append
-- functions run as their owner (SECURITY DEFINER, with a fixed search_path so no object the
-- caller creates can stand in for a built-in), set both columns themselves, and are the only
-- way in; the role keeps SELECT.

ALTER FUNCTION ledger.append_batch(jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION ledger.append_one(text, integer, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION ledger.append_batch(jsonb), ledger.append_one(text, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.append_batch(jsonb), ledger.append_one(text, integer, jsonb) TO ledger_service;

REVOKE INSERT ON ledger.events FROM ledger_service;
