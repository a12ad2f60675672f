-- Staging for one batch: a temporary table (no WAL), dropped at commit. Filled with COPY.
CREATE TEMP TABLE {stage} (
    payment_id          bigint      NOT NULL,
    company_code        text        NOT NULL,
    external_client_id  text,
    status              text,
    amount              numeric(14, 2),
    payment_at          timestamptz,
    created_at          timestamptz,
    updated_at          timestamptz
) ON COMMIT DROP;
