-- One pass over the staged batch: a single LEFT JOIN against the current rows (served by the
-- partial unique index) keeps the rows that must be written, labelled 'new' or 'changed', with the
-- ctid of the current row to close. The change rule is written once: row_hash differs (the stored
-- hash of payment_at, status, amount, external_client_id, computed NULL-safely; see row_hash()).
-- Unchanged rows are not copied anywhere: they are counted as staged - written.
CREATE TEMP TABLE {classified} ON COMMIT DROP AS
SELECT
    s.*,
    c.ctid AS current_ctid,
    CASE WHEN c.ctid IS NULL THEN 'new' ELSE 'changed' END AS action
FROM {stage} AS s
LEFT JOIN {payments} AS c
    ON c.payment_id = s.payment_id
   AND c.company_code = s.company_code
   AND c.is_current
WHERE c.ctid IS NULL
   OR c.row_hash <> s.row_hash;
