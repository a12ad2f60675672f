-- Close the current version of every changed key found by the classifying pass (by key, through
-- the partial unique index; the merge holds a lock that keeps other merges out until commit).
UPDATE {payments} AS t
SET is_current = false,
    end_date = %(effective_at)s
FROM {closing} AS c
WHERE t.payment_id = c.payment_id
  AND t.company_code = c.company_code
  AND t.is_current;
