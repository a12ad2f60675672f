-- Name and category of the recommended companies, for the recommendation service.
SELECT company_code, name, category
FROM companies_l0
WHERE company_code = ANY(%(company_codes)s)
ORDER BY company_code;
