-- Current payments (one row per key), for the payments index.
SELECT payment_id, company_code, external_client_id, status, amount::double precision AS amount,
       payment_at, created_at, updated_at, start_date
FROM {payments}
WHERE is_current
ORDER BY payment_id, company_code;
