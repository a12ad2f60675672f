-- Name and category of every company, for the recommendation service: read when an index is loaded
-- and again when the copy is older than the service's COMPANIES_TTL_SECONDS, not per request.
SELECT company_code, name, category
FROM companies_l0
ORDER BY company_code;
