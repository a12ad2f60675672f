-- One client's payments per company, for the recommendation service (read at request time).
-- A company appears when any version ever named the client: no row at all means an unknown client.
-- current_payments counts the current versions only: what the client pays today.
SELECT company_code, count(*) FILTER (WHERE is_current) AS current_payments
FROM payments_l0
WHERE external_client_id = %(client_id)s
GROUP BY company_code
ORDER BY company_code;
