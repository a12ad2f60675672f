-- Every SCD type 2 version of the payments with the most versions (ties: the most recently changed first),
-- for looking at how a payment's status, amount, date or client changed (notebooks/payments.ipynb).
WITH most_versioned AS (
    SELECT payment_id, company_code, count(*) AS versions, max(start_date) AS last_change
    FROM {payments}
    GROUP BY payment_id, company_code
    ORDER BY versions DESC, last_change DESC, payment_id, company_code
    LIMIT %(n_payments)s
)
SELECT p.payment_id, p.company_code, m.versions, p.status, p.amount::double precision AS amount,
       p.payment_at, p.external_client_id, p.updated_at, p.is_current, p.start_date, p.end_date
FROM {payments} AS p
JOIN most_versioned AS m USING (payment_id, company_code)
ORDER BY m.versions DESC, m.last_change DESC, p.payment_id, p.company_code, p.start_date;
