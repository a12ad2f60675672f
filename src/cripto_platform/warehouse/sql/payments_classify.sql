-- One pass over the staged keys: a single LEFT JOIN against the current rows keeps the batch rows
-- that must be written, with the ctid of the current row to close (NULL for a new key). The change
-- rule is written once: row_hash differs (the stored hash of payment_at, status, amount,
-- external_client_id, computed NULL-safely by row_hash() in datasets/payments.py).
-- Unchanged rows go no further: they are counted as staged - written.
CREATE TEMP TABLE {classified} ON COMMIT DROP AS
SELECT k.n, c.ctid AS current_ctid
FROM {keys} AS k
LEFT JOIN {payments} AS c
    ON c.payment_id = k.payment_id
   AND c.company_code = k.company_code
   AND c.is_current
WHERE c.ctid IS NULL
   OR c.row_hash <> k.row_hash;
