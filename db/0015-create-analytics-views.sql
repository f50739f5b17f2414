-- Stable views for analysts who query PostgreSQL directly (README: Analysts' SQL views), and a
-- read-only role that sees them and nothing else: not the events (with the identifications they
-- carry), not the tokens, not the tables behind the views.
--
--   CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE ledger_analyst;   -- better on a replica
--
-- The views' columns only grow, as the API's fields do; the tables behind them may change.
-- A rebuild swaps new projection tables in by renaming schemas, so the views are defined in
-- one function that the swap calls again (a view follows its tables, not their names).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_analyst') THEN
        CREATE ROLE ledger_analyst NOLOGIN;
    END IF;
END
$$;
-- Read-only by default (no temporary tables either: a long transaction that takes an xid would
-- hold back every gap-safe reader in the cluster), and bounded. Set per login role as well, or
-- it applies only after SET ROLE.
ALTER ROLE ledger_analyst SET default_transaction_read_only = on;
ALTER ROLE ledger_analyst SET statement_timeout = '5min';
ALTER ROLE ledger_analyst SET idle_in_transaction_session_timeout = '1min';

CREATE SCHEMA analytics;

CREATE FUNCTION analytics.create_views() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    CREATE OR REPLACE VIEW analytics.errors AS
        SELECT position, event_id, received_at, evse_id, operator_id, session_id, session_seq, error_type,
               error_additional_info, phase
          FROM projection_evse_errors.evse_errors;
    COMMENT ON VIEW analytics.errors IS 'Every Error notification recorded: when, where, which session, its ErrorType and phase.';

    CREATE OR REPLACE VIEW analytics.sessions AS
        SELECT session_id, evse_id, operator_id, status, ended, charging_start, charging_end,
               consumed_energy AS consumed_energy_kwh, error_count, first_error_at, last_error_at, last_error_type,
               anomaly_count, event_count, first_received_at, last_received_at
          FROM projection_sessions.sessions;
    COMMENT ON VIEW analytics.sessions IS 'One row per charging session: its state, energy, and error counts.';

    CREATE OR REPLACE VIEW analytics.session_events AS
        SELECT session_id, seq, position, event_id, event_type, notification_type, evse_id, received_at, occurred_at,
               error_type, error_additional_info, phase
          FROM projection_sessions.session_events;
    COMMENT ON VIEW analytics.session_events IS 'Each session''s timeline: lifecycle notifications, errors and deliveries, in order.';

    CREATE OR REPLACE VIEW analytics.evse_summaries AS
        SELECT evse_id, operator_id, error_count, error_counts, first_error_at, last_error_at, sessions,
               sessions_with_errors, last_session_id, last_session_status, last_session_received_at
          FROM projection_evse_errors.evse_summary;
    COMMENT ON VIEW analytics.evse_summaries IS 'One row per EVSE: errors by type, sessions, sessions with errors, its last session.';

    CREATE OR REPLACE VIEW analytics.deliveries AS
        SELECT position, event_id, session_id, evse_id, operator_id, notification_type, state, attempts,
               first_attempt_at, status_code, reason, created_at, finished_at
          FROM forwarding.deliveries;
    COMMENT ON VIEW analytics.deliveries IS 'Each notification''s way to Hubject: state, attempts, Hubject''s code, the reason of a failure.';

    GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO ledger_analyst;
END
$$;

SELECT analytics.create_views();
GRANT USAGE ON SCHEMA analytics TO ledger_analyst;
-- The rebuild's swap calls it, as whichever role runs the rebuild (the function runs as its owner).
REVOKE ALL ON FUNCTION analytics.create_views() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.create_views() TO ledger_service;
