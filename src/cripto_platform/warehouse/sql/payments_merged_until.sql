-- How far payments are merged: the end of the last merged window and its run. The merge log is written
-- in each merge's own transaction, so it holds committed merges only; the payments watermark is
-- confirmed to this after the merge node (EtlWatermarkDataset.confirm).
SELECT watermark, run_id
FROM {merge_log}
WHERE table_name = %(table_name)s AND watermark IS NOT NULL
ORDER BY watermark DESC, merged_at DESC
LIMIT 1;
