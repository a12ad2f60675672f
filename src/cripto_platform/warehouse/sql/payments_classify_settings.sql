-- Planner settings for payments_classify.sql. The join is chosen here rather than from statistics
-- (a TEMP table is never auto-analysed, and ANALYZE costs a scan): the classifying join reads only
-- the covering index, in key order. A hash join would read and hash the heap of every current row.
-- A batch much smaller than the history (scd2.SMALL_BATCH_SHARE) probes the partial unique index
-- key by key (nested loop: index_probes true, merge_join false); a larger one takes a merge join
-- that walks the whole index once (index_probes false, merge_join true).
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_nestloop = %(index_probes)s;
SET LOCAL enable_mergejoin = %(merge_join)s;
