-- Phase 1 staging: only what classifying needs (batch row number, key, row hash) for every row of
-- the batch. A temporary table (no WAL), dropped at commit, filled with one COPY.
CREATE TEMP TABLE {keys} (
    n             bigint  NOT NULL,  -- row number in the batch
    payment_id    bigint  NOT NULL,
    company_code  text    NOT NULL,
    row_hash      bigint  NOT NULL
) ON COMMIT DROP;
