-- Wake subscribers once per transaction that appended events.
--
-- The trigger is statement-level, and PostgreSQL folds identical notifications (same channel,
-- same payload) raised in one transaction into one, so a batch of any size sends one NOTIFY,
-- delivered at commit. Subscribers also poll, so a notification lost while their connection
-- was down delays them by one poll interval at most.

CREATE FUNCTION ledger.notify_events_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify_appended
    AFTER INSERT ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.notify_events_appended();
