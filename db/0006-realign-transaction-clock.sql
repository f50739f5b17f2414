-- After a restore into a new cluster, the stored transaction ids can be ahead of this cluster's
-- counter. This moves the ledger's clock past them (a new epoch), so that new events sort after
-- the restored ones and readers' horizon passes the restored events at once.
-- Called by `error-ledger migrate` and whenever the event store opens. Returns the new offset,
-- or NULL when the clock was already ahead of every stored event.
-- SECURITY DEFINER so the service role, which may not write the epoch table, can run it.

CREATE FUNCTION ledger.realign_transaction_clock() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, ledger AS $$
DECLARE
    newest  bigint;
    counter bigint;
    needed  bigint;
BEGIN
    LOCK TABLE ledger.transaction_epochs IN SHARE ROW EXCLUSIVE MODE;
    SELECT max(e.transaction_id)::text::bigint INTO newest FROM ledger.events e;
    counter := pg_current_xact_id()::text::bigint;
    IF newest IS NULL OR newest < counter + ledger.transaction_offset() THEN
        RETURN NULL;
    END IF;
    -- Leave a margin, so transactions already running on the old clock still land below.
    needed := newest - counter + 1000000;
    INSERT INTO ledger.transaction_epochs (offset_value, reason)
    VALUES (needed, format('stored transaction id %s is ahead of this cluster''s counter %s (restored store)', newest, counter));
    RETURN needed;
END
$$;
