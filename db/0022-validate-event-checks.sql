-- Validates db/0021's rules against the stored events: a scan of every partition under SHARE
-- UPDATE EXCLUSIVE, which appends and readers do not wait for (a transaction of its own, apart
-- from db/0021's exclusive lock).
ALTER TABLE ledger.events VALIDATE CONSTRAINT events_stream_id_check;
ALTER TABLE ledger.events VALIDATE CONSTRAINT events_event_type_check;
