-- Staging for one batch: a temporary table (no WAL), dropped at commit, filled with one COPY.
-- Timestamps travel as epoch microseconds and amounts as cents: integers are the cheapest values
-- to write and to parse, and only the rows that are inserted get converted back.
CREATE TEMP TABLE {stage} (
    payment_id          bigint NOT NULL,
    company_code        text   NOT NULL,
    external_client_id  text,
    status              text,
    amount_cents        bigint,
    payment_at_us       bigint,
    created_at_us       bigint,
    updated_at_us       bigint,
    row_hash            bigint NOT NULL
) ON COMMIT DROP;
