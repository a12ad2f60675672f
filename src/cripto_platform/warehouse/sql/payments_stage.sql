-- Phase 2 staging: the full rows to write (new and changed keys only), filled with one binary COPY.
-- Timestamps travel as epoch microseconds and amounts as cents: integers are the cheapest values
-- to write and to parse.
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
