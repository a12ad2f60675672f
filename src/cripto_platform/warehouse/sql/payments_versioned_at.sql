-- Changed keys whose current version already starts at this batch's effective time: closing them
-- would leave start_date = end_date. Only asked when a batch repeats the last merge's process time.
SELECT count(*), min(c.payment_id::text || '/' || c.company_code)
FROM {keys} AS k
JOIN {payments} AS c
    ON c.payment_id = k.payment_id
   AND c.company_code = k.company_code
   AND c.is_current
WHERE c.row_hash <> k.row_hash
  AND c.start_date >= %(effective_at)s;
