-- A batch's full rows as CSV-friendly integers (timestamps as epoch microseconds, amounts as
-- cents: the cheapest text values for COPY to parse). The merge no longer uses it (it COPYs new
-- versions straight into the table in binary); benchmarks/payments_merge.py uses this shape for its
-- plain-COPY baseline and its straightforward merge.
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
