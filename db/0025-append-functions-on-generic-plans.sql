-- The append functions' statements on generic plans (issue #16 §1).
--
-- PL/pgSQL keeps a plan per statement per connection, but a statement with parameters is
-- planned again for its values ("custom plans") for as long as the generic plan's estimate looks
-- costlier than theirs. The statements of `ledger.append_batch` take arrays whose length the
-- custom plans know and the generic plan guesses, so the guess always lost: every call planned
-- its dozen statements again. With one small batch per commit (16 appenders: about five appends
-- a batch) that planning was a tenth of the backend's CPU (`perf`: `GetCachedPlan`,
-- `standard_planner`), and a batch of five cost 0.89–1.06 ms in the function against
-- 0.80–0.88 ms on generic plans (`pg_stat_statements`, `error-ledger-bench append --appenders
-- 16`). Every statement here is an index probe or a write, whatever the values, so the generic
-- plan is the plan. `ledger.append_one` (a batch of one) likewise, and the chain trigger it
-- fires runs under its settings.
--
-- A plan made once is kept for the connection's life, so it must not depend on how large the
-- tables were when it was made: append_batch runs with sequential scans, hash and merge joins off
-- (db/0023), and append_one now does too. Made generic on a new store, its probe of
-- `ledger.event_ids` would otherwise scan the (then small) table on every call for as long as
-- the connection lived.
ALTER FUNCTION ledger.append_batch(jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION ledger.append_one(text, integer, jsonb)
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
