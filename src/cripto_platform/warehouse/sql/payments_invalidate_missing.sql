-- missing_keys: invalidate — close current rows whose key is not in the batch (a full extract).
UPDATE {payments} AS t
SET is_current = false,
    end_date = %(effective_at)s
WHERE t.is_current
  AND NOT EXISTS (
      SELECT 1 FROM {stage} AS s
      WHERE s.payment_id = t.payment_id AND s.company_code = t.company_code
  );
