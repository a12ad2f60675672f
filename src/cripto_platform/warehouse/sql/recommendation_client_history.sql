-- One client's current payments per company, for the recommendation service (read at request time):
-- what the client pays today. An index-only scan of payments_l0's partial client index
-- (payments_ddl.sql: {payments}_client_current), not a scan of the table. No row: see
-- recommendation_client_known.sql.
SELECT company_code, count(*) AS current_payments
FROM payments_l0
WHERE external_client_id = %(client_id)s AND is_current
GROUP BY company_code
ORDER BY company_code;
