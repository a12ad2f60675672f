-- Upsert the staged companies on company_code; rows whose values did not change are not rewritten.
INSERT INTO {companies} AS t (company_code, company_id, name, category, created_at, updated_at, loaded_at)
SELECT company_code, company_id, name, category, created_at, updated_at, now()
FROM {stage}
ON CONFLICT (company_code) DO UPDATE
SET company_id = EXCLUDED.company_id,
    name = EXCLUDED.name,
    category = EXCLUDED.category,
    created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at,
    loaded_at = EXCLUDED.loaded_at
WHERE (t.company_id, t.name, t.category, t.created_at, t.updated_at)
      IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.name, EXCLUDED.category, EXCLUDED.created_at, EXCLUDED.updated_at);
