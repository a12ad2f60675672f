-- Insert a current version for every new key and every changed key.
INSERT INTO {payments} (
    payment_id, company_code, external_client_id, status, amount, payment_at, created_at, updated_at,
    row_hash, is_current, start_date, end_date, batch_id, run_id
)
SELECT
    payment_id,
    company_code,
    external_client_id,
    status,
    amount_cents / 100.0,
    timestamptz 'epoch' + payment_at_us * interval '1 microsecond',
    timestamptz 'epoch' + created_at_us * interval '1 microsecond',
    timestamptz 'epoch' + updated_at_us * interval '1 microsecond',
    row_hash,
    true,
    %(effective_at)s,
    NULL,
    %(batch_id)s,
    %(run_id)s
FROM {stage};
