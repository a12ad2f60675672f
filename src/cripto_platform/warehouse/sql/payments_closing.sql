-- The changed keys whose current version the merge closes, filled with one binary COPY in key order.
CREATE TEMP TABLE {closing} (
    payment_id    bigint NOT NULL,
    company_code  text   NOT NULL
) ON COMMIT DROP;
