-- Close the current version of every changed key found by the classifying pass (by key, through
-- the partial unique index; the merge holds a lock that keeps other merges out until commit).
-- Planner: one index probe per closing key (a merge join would walk the whole index and fetch
-- every current row). The UPDATE is last, so the cursor's rowcount is the keys it closed.
SET LOCAL enable_nestloop = on;
SET LOCAL enable_mergejoin = off;
UPDATE {payments} AS t
SET is_current = false,
    end_date = %(effective_at)s
FROM {closing} AS c
WHERE t.payment_id = c.payment_id
  AND t.company_code = c.company_code
  AND t.is_current;
