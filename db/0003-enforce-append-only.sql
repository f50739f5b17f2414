-- Append-only, enforced by the database: no UPDATE, DELETE or TRUNCATE on the event store or on
-- the transaction clock's history, whoever asks (triggers fire for the table owner too; only a
-- superuser who disables triggers or sets session_replication_role can get past them).

CREATE FUNCTION ledger.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'LE001',
              HINT = 'Record a correcting event instead of changing a stored one.';
END
$$;

CREATE TRIGGER events_reject_update_delete
    BEFORE UPDATE OR DELETE ON ledger.events
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

CREATE TRIGGER events_reject_truncate
    BEFORE TRUNCATE ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();

CREATE TRIGGER transaction_epochs_reject_update_delete
    BEFORE UPDATE OR DELETE ON ledger.transaction_epochs
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

CREATE TRIGGER transaction_epochs_reject_truncate
    BEFORE TRUNCATE ON ledger.transaction_epochs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();
