-- Close the current version of every changed key found by the classifying pass (its key, through
-- the partial unique index; the merge holds a lock that keeps other merges out until commit).
UPDATE {payments} AS t
SET is_current = false,
    end_date = %(effective_at)s
FROM {classified} AS x
WHERE NOT x.is_new
  AND t.payment_id = x.payment_id
  AND t.company_code = x.company_code
  AND t.is_current;
