-- The last merged batch into this table (read under the merge lock): no batch older than it may
-- merge. The merge log is written in the same transaction as every merge, so it is complete.
SELECT effective_at, run_id
FROM {merge_log}
WHERE table_name = %(table_name)s
ORDER BY effective_at DESC, merged_at DESC
LIMIT 1;
