-- Every version of every payment (payments_l0@scd2's load: the table it merges into), in key and time order.
SELECT payment_id, company_code, external_client_id, status, amount::double precision AS amount,
       payment_at, created_at, updated_at, row_hash, is_current, start_date, end_date, batch_id, run_id
FROM {payments}
ORDER BY payment_id, company_code, start_date;
