-- One pass over the staged keys: a single LEFT JOIN against the current rows returns the batch rows
-- that must be written: new keys (no current row) and changed keys (row hash differs). The change
-- rule is written once: row_hash differs (the stored hash of payment_at, status, amount,
-- external_client_id, computed NULL-safely by row_hash() in warehouse/scd2.py). The join reads
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
