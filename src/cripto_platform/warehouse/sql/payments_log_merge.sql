INSERT INTO {merge_log} (
    table_name, batch_id, run_id, effective_at, watermark, missing_keys, staged, inserted_new,
    inserted_changed, closed_changed, unchanged, invalidated, duplicates, quarantined
) VALUES (
    %(table_name)s, %(batch_id)s, %(run_id)s, %(effective_at)s, %(watermark)s, %(missing_keys)s,
    %(staged)s, %(inserted_new)s, %(inserted_changed)s, %(closed_changed)s, %(unchanged)s,
    %(invalidated)s, %(duplicates)s, %(quarantined)s
);
