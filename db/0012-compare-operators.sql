-- Operators compared as OICP compares them (issue #11): `DE*A36`, `DEA36` and `de*a36` are one
-- operator, and an EVSE belongs to the operator its EvseID begins with (REFERENCE §3.3, §3.5),
-- whatever OperatorID a hub partner sent beside it. These functions mirror
-- `OICP.OperatorIdentity` (Sources/OICP/OperatorIdentity.swift); a token limited to operators
-- reads a row only when both the row's OperatorID and its EvseID's operator are among them.

-- The comparable form of an OperatorID: upper case, without `*` or `+`.
CREATE FUNCTION ledger.operator_key(operator_id text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(translate(operator_id, '*+', ''));

-- The comparable form of the operator an EvseID belongs to: ISO `DE*A36*E…` / `DEA36E…` and
-- DIN `+49*810*…`; NULL when the id does not begin like an EvseID.
CREATE FUNCTION ledger.evse_operator_key(evse_id text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(translate(substring(evse_id FROM '^(?:[A-Za-z]{2}\*?[A-Za-z0-9]{3}|\+?[0-9]{1,3}\*[0-9]{3})'), '*+', ''));

-- A limited token's fleet feed, newest first, by the comparable operator (a rebuild recreates
-- this index with the others).
CREATE INDEX evse_errors_operator_key_received_at_idx
    ON projection_evse_errors.evse_errors (ledger.operator_key(operator_id), received_at DESC, position DESC);
