-- Close the current version of every changed key (found by the classifying pass: no second join).
UPDATE {payments}
SET is_current = false,
    end_date = %(effective_at)s
WHERE ctid = ANY (ARRAY(
    SELECT current_ctid FROM {classified} WHERE current_ctid IS NOT NULL ORDER BY current_ctid  -- heap order
));
