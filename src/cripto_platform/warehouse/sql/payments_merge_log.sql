-- The SCD2 table's commit log (like Delta Lake's DESCRIBE HISTORY): one row per merge into it, with
-- its counts, oldest first (payments_l0@merges).
SELECT *
FROM {merge_log}
WHERE table_name = %(table_name)s
ORDER BY merged_at;
