-- Settings for the whole merge transaction (SET LOCAL: they end at its commit or rollback).
-- Durability of this commit may lag a crash by < 1s. The watermark is confirmed afterwards in a
-- synchronous commit, whose WAL flush includes this one: a lost merge also loses its confirmation, and
-- the next run re-reads that window. Atomicity and consistency are unaffected.
SET LOCAL synchronous_commit = off;
-- Sorts and hashes of a 1M-row batch in memory.
SET LOCAL work_mem = '256MB';
-- These statements are planned once and run once: JIT compilation (on above a plan cost every
-- large batch exceeds) would only add its compile time.
SET LOCAL jit = off;
