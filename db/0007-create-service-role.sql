-- The service's least-privilege role: it may read and append events and read the clock, nothing
-- more. Grant it to the login role the service connects as:
--   CREATE ROLE ledger_app LOGIN PASSWORD '…' IN ROLE ledger_service;
-- Roles are cluster-wide, so the role is created only if another database has not already.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_service') THEN
        CREATE ROLE ledger_service NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA ledger FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger TO ledger_service;
GRANT SELECT, INSERT ON ledger.events TO ledger_service;
GRANT SELECT ON ledger.transaction_epochs TO ledger_service;
