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
-- 16`). Every statement here is an index probe or a write, whatever the values (append_batch
-- runs with sequential scans off), so the generic plan is the plan. `ledger.append_one` (a
-- batch of one) likewise; the chain trigger it fires runs under its setting.
ALTER FUNCTION ledger.append_batch(jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION ledger.append_one(text, integer, jsonb) SET plan_cache_mode = force_generic_plan;
