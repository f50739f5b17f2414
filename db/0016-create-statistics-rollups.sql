-- Statistics of the fault history (issue #14): counts per UTC hour, kept by the evse_errors
-- projection beside its timelines, so that series, fair rankings and reliability figures read a
-- few thousand rollup rows instead of every error and session of the window.
--
--   error_hours            errors per EVSE, hour, ErrorType and phase
--   session_hours          sessions per EVSE and hour (the hour the session was first seen),
--                          with how many of them had an error and how many ended abruptly
--   operator_error_hours   the same as error_hours per operator (fleet series without EVSEs)
--   operator_session_hours the same as session_hours per operator
--   operator_error_days,   the operator tables per UTC day
--   operator_session_days
--
-- Operator rows are keyed by the comparable operator (ledger.operator_key) and the operator of
-- the EVSE (ledger.evse_operator_key, '' when the EvseID does not begin like one), so that a
-- token limited to operators reads them under the same rule as the error lists.
--
-- A session counts in the hour it was first seen, at the EVSE it started at, even when its error
-- or its abrupt end comes hours later: rates (errors per session, share of sessions with an
-- error) divide counts of the same buckets. An error's phase can change from during_charging to
-- abrupt_end when its session's End arrives; its count moves with it.
--
-- The projector maintains these with deltas in its batch statement (Projections/TimelineRows);
-- a rebuild fills them at once from the rebuilt tables with ledger.fill_statistics, which also
-- fills them here for the history recorded before this migration.

-- Whether a session has an error that ended it abruptly: its share is a statistic of its own.
ALTER TABLE projection_sessions.sessions ADD COLUMN abrupt_end boolean NOT NULL DEFAULT false;
ALTER TABLE projection_evse_errors.sessions ADD COLUMN abrupt_end boolean NOT NULL DEFAULT false;
UPDATE projection_sessions.sessions s SET abrupt_end = true
 WHERE EXISTS (SELECT 1 FROM projection_sessions.session_events e WHERE e.session_id = s.session_id AND e.phase = 'abrupt_end');
UPDATE projection_evse_errors.sessions s SET abrupt_end = true
 WHERE EXISTS (SELECT 1 FROM projection_evse_errors.evse_errors e WHERE e.session_id = s.session_id AND e.phase = 'abrupt_end');

-- An EVSE's sessions since a moment (reliability: sessions since the last error). Neither
-- column changes once written, so the projector's rewrites of a session stay HOT.
CREATE INDEX sessions_evse_id_first_received_at_idx ON projection_evse_errors.sessions (evse_id, first_received_at);

CREATE TABLE projection_evse_errors.error_hours (
    evse_id     text NOT NULL,
    hour        timestamptz NOT NULL,
    error_type  text NOT NULL,
    phase       text NOT NULL CHECK (phase IN ('before_charging', 'during_charging', 'abrupt_end')),
    operator_id text NOT NULL,
    errors      integer NOT NULL,
    PRIMARY KEY (evse_id, hour, error_type, phase)
);
CREATE INDEX error_hours_hour_idx ON projection_evse_errors.error_hours (hour);

CREATE TABLE projection_evse_errors.session_hours (
    evse_id              text NOT NULL,
    hour                 timestamptz NOT NULL,
    operator_id          text NOT NULL,
    sessions             integer NOT NULL,
    sessions_with_errors integer NOT NULL,
    abrupt_ends          integer NOT NULL,
    PRIMARY KEY (evse_id, hour)
);
CREATE INDEX session_hours_hour_idx ON projection_evse_errors.session_hours (hour);

CREATE TABLE projection_evse_errors.operator_error_hours (
    operator_key      text NOT NULL,
    evse_operator_key text NOT NULL,
    hour              timestamptz NOT NULL,
    error_type        text NOT NULL,
    phase             text NOT NULL,
    operator_id       text NOT NULL, -- as the first notification spelled it, for display
    errors            integer NOT NULL,
    PRIMARY KEY (operator_key, evse_operator_key, hour, error_type, phase)
);
CREATE INDEX operator_error_hours_hour_idx ON projection_evse_errors.operator_error_hours (hour);

CREATE TABLE projection_evse_errors.operator_session_hours (
    operator_key         text NOT NULL,
    evse_operator_key    text NOT NULL,
    hour                 timestamptz NOT NULL,
    operator_id          text NOT NULL,
    sessions             integer NOT NULL,
    sessions_with_errors integer NOT NULL,
    abrupt_ends          integer NOT NULL,
    PRIMARY KEY (operator_key, evse_operator_key, hour)
);
CREATE INDEX operator_session_hours_hour_idx ON projection_evse_errors.operator_session_hours (hour);

-- The same per UTC day: a series of UTC days or weeks (the dashboard's default) reads a day's row
-- where it would read 24 hourly ones.
CREATE TABLE projection_evse_errors.operator_error_days (
    operator_key      text NOT NULL,
    evse_operator_key text NOT NULL,
    day               date NOT NULL,
    error_type        text NOT NULL,
    phase             text NOT NULL,
    operator_id       text NOT NULL,
    errors            integer NOT NULL,
    PRIMARY KEY (operator_key, evse_operator_key, day, error_type, phase)
);
CREATE INDEX operator_error_days_day_idx ON projection_evse_errors.operator_error_days (day);

CREATE TABLE projection_evse_errors.operator_session_days (
    operator_key         text NOT NULL,
    evse_operator_key    text NOT NULL,
    day                  date NOT NULL,
    operator_id          text NOT NULL,
    sessions             integer NOT NULL,
    sessions_with_errors integer NOT NULL,
    abrupt_ends          integer NOT NULL,
    PRIMARY KEY (operator_key, evse_operator_key, day)
);
CREATE INDEX operator_session_days_day_idx ON projection_evse_errors.operator_session_days (day);

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA projection_evse_errors TO ledger_service;

-- Fills the rollups of `schema_name` (the live schema, or a rebuild's build schema) from its
-- evse_errors and sessions tables, which must be complete; the rollups must be empty. The
-- operator tables are summed from the EVSE ones, with each EVSE's operator keys computed once
-- (ledger.evse_operator_key is a regular expression: once per row, it was most of the fill).
-- An EVSE-hour whose notifications named operators with different keys counts under the first
-- (least) of them here, where the projector counts each error under its own: keep an EVSE's
-- OperatorID consistent, as OICP requires, and both agree.
CREATE FUNCTION ledger.fill_statistics(schema_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' AS $$
BEGIN
    EXECUTE format($sql$
        INSERT INTO %1$I.error_hours (evse_id, hour, error_type, phase, operator_id, errors)
        SELECT evse_id, date_trunc('hour', received_at), error_type, phase, min(operator_id), count(*)
          FROM %1$I.evse_errors GROUP BY 1, 2, 3, 4
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.session_hours (evse_id, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
        SELECT evse_id, date_trunc('hour', first_received_at), min(operator_id), count(*),
               count(*) FILTER (WHERE error_count > 0), count(*) FILTER (WHERE abrupt_end)
          FROM %1$I.sessions GROUP BY 1, 2
        $sql$, schema_name);
    EXECUTE format($sql$
        WITH k AS MATERIALIZED (
            SELECT evse_id, operator_id, ledger.operator_key(operator_id) AS operator_key,
                   coalesce(ledger.evse_operator_key(evse_id), '') AS evse_operator_key
              FROM (SELECT DISTINCT evse_id, operator_id FROM %1$I.error_hours) d)
        INSERT INTO %1$I.operator_error_hours (operator_key, evse_operator_key, hour, error_type, phase, operator_id, errors)
        SELECT k.operator_key, k.evse_operator_key, e.hour, e.error_type, e.phase, min(e.operator_id), sum(e.errors)
          FROM %1$I.error_hours e JOIN k USING (evse_id, operator_id) GROUP BY 1, 2, 3, 4, 5
        $sql$, schema_name);
    EXECUTE format($sql$
        WITH k AS MATERIALIZED (
            SELECT evse_id, operator_id, ledger.operator_key(operator_id) AS operator_key,
                   coalesce(ledger.evse_operator_key(evse_id), '') AS evse_operator_key
              FROM (SELECT DISTINCT evse_id, operator_id FROM %1$I.session_hours) d)
        INSERT INTO %1$I.operator_session_hours
               (operator_key, evse_operator_key, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
        SELECT k.operator_key, k.evse_operator_key, e.hour, min(e.operator_id), sum(e.sessions), sum(e.sessions_with_errors),
               sum(e.abrupt_ends)
          FROM %1$I.session_hours e JOIN k USING (evse_id, operator_id) GROUP BY 1, 2, 3
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.operator_error_days (operator_key, evse_operator_key, day, error_type, phase, operator_id, errors)
        SELECT operator_key, evse_operator_key, hour::date, error_type, phase, min(operator_id), sum(errors)
          FROM %1$I.operator_error_hours GROUP BY 1, 2, 3, 4, 5
        $sql$, schema_name);
    EXECUTE format($sql$
        INSERT INTO %1$I.operator_session_days
               (operator_key, evse_operator_key, day, operator_id, sessions, sessions_with_errors, abrupt_ends)
        SELECT operator_key, evse_operator_key, hour::date, min(operator_id), sum(sessions), sum(sessions_with_errors), sum(abrupt_ends)
          FROM %1$I.operator_session_hours GROUP BY 1, 2, 3
        $sql$, schema_name);
END
$$;
REVOKE ALL ON FUNCTION ledger.fill_statistics(text) FROM PUBLIC;

SELECT ledger.fill_statistics('projection_evse_errors');
