-- The companies dimension (type 1: upserted on company_code).
CREATE TABLE IF NOT EXISTS {companies} (
    company_code  text        PRIMARY KEY,
    company_id    bigint,
    name          text,
    category      text,
    created_at    timestamptz,
    updated_at    timestamptz,
    loaded_at     timestamptz NOT NULL DEFAULT now()
);
