-- One pass over the staged batch: each row is new, changed or unchanged against its current row.
-- The change rule, written once: the md5 of the compared columns (payment_at, status, amount,
-- external_client_id). A composite's text form tells NULL from '' and epoch seconds do not depend
-- on the session time zone, so NULL -> NULL is no change and NULL <-> value is a change.
CREATE TEMP TABLE {classified} ON COMMIT DROP AS
SELECT
    s.*,
    h.row_hash,
    c.ctid AS current_ctid,
    CASE
        WHEN c.ctid IS NULL THEN 'new'
        WHEN c.row_hash = h.row_hash THEN 'unchanged'
        ELSE 'changed'
    END AS action
FROM {stage} AS s
CROSS JOIN LATERAL (
    SELECT md5(row(extract(epoch FROM s.payment_at), s.status, s.amount, s.external_client_id)::text)::uuid
) AS h (row_hash)
LEFT JOIN {payments} AS c
    ON c.payment_id = s.payment_id
   AND c.company_code = s.company_code
   AND c.is_current;
