-- One pass over the staged keys: a single LEFT JOIN against the current rows returns the batch rows
-- that must be written: new keys (no current row) and changed keys (row hash differs).
-- THE CHANGE RULE is written once, in the docstring of row_hash() (warehouse/scd2.py): a key changes
-- when payment_at, status, amount or external_client_id IS DISTINCT FROM its current version's;
-- row_hash() hashes exactly those columns NULL-safely, so here it is `c.row_hash <> k.row_hash`.
-- Planner settings: payments_classify_settings.sql (run just before). The join reads
-- only the covering partial unique index (key + row_hash, index-only): a merge join in key order
-- for a large batch, index probes for a small one. Unchanged rows go no further: they are counted
-- as staged - written. The result goes straight back to the caller (batch row numbers).
SELECT k.n, c.row_hash IS NULL AS is_new
FROM {keys} AS k
LEFT JOIN {payments} AS c
    ON c.payment_id = k.payment_id
   AND c.company_code = k.company_code
   AND c.is_current
WHERE c.row_hash IS NULL  -- row_hash is NOT NULL in the table: no current row
   OR c.row_hash <> k.row_hash
