-- missing_keys: invalidate — close current rows whose key is not in the batch (a full extract).
-- Planner: every join method again (classify and close turned hash and merge joins off). The
-- UPDATE is last, so the cursor's rowcount is the rows it closed.
SET LOCAL enable_hashjoin = on;
SET LOCAL enable_mergejoin = on;
UPDATE {payments} AS t
SET is_current = false,
    end_date = %(effective_at)s
WHERE t.is_current
  AND NOT EXISTS (
      SELECT 1 FROM {keys} AS k
      WHERE k.payment_id = t.payment_id AND k.company_code = t.company_code
  );
