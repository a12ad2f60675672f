-- Payments as an SCD type 2 table (dbt snapshot "check" strategy) and its merge log, written in each
-- merge's transaction (the watermark table is etl_watermarks_ddl.sql, confirmed from the merge log after
-- the merge). Identifiers in braces are filled in by the caller (psycopg2.sql).
CREATE TABLE IF NOT EXISTS {payments} (
    payment_id          bigint      NOT NULL,
    company_code        text        NOT NULL,
    external_client_id  text,
    status              text,
    amount              numeric(14, 2),
    payment_at          timestamptz,
    created_at          timestamptz,
    updated_at          timestamptz,
    row_hash            bigint      NOT NULL,  -- hash of the compared columns (warehouse/scd2.py: row_hash)
    is_current          boolean     NOT NULL,
    start_date          timestamptz NOT NULL,  -- effective time of the batch that wrote this version
    end_date            timestamptz,           -- effective time of the batch that closed it; NULL while current
    batch_id            text        NOT NULL,
    run_id              text
);
-- A merge leaves a few percent of the table dead: vacuum after 2% (the default waits for 20%) so
-- the visibility map stays fresh and the classifying probe below stays index-only.
ALTER TABLE {payments} SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
-- One current row per key. It also serves the classifying join on its own: the row hash is
-- INCLUDEd, so the probe is an index-only scan (heap pages are read only where the visibility map
-- is not set, i.e. since the last (auto)vacuum).
CREATE UNIQUE INDEX IF NOT EXISTS {payments_current_key_hash}
    ON {payments} (payment_id, company_code) INCLUDE (row_hash) WHERE is_current;
-- One client's current payments, for the recommendation service's per-request history query
-- (recommendation_client_history.sql): an index-only scan instead of a scan of the table. Partial,
-- so a merge adds entries only for the new current versions (a closed version leaves it).
CREATE INDEX IF NOT EXISTS {payments_client_current}
    ON {payments} (external_client_id) INCLUDE (company_code) WHERE is_current;
-- Warehouses created before the row hash was INCLUDEd: the index above replaces this one.
DROP INDEX IF EXISTS {payments_current_key};

CREATE TABLE IF NOT EXISTS {merge_log} (
    table_name        text        NOT NULL,
    batch_id          text        NOT NULL,
    run_id            text,
    effective_at      timestamptz NOT NULL,
    watermark         timestamptz,           -- the batch window's end: the payments watermark is confirmed to it
    missing_keys      text        NOT NULL,
    staged            bigint      NOT NULL,
    inserted_new      bigint      NOT NULL,
    inserted_changed  bigint      NOT NULL,
    closed_changed    bigint      NOT NULL,
    unchanged         bigint      NOT NULL,
    invalidated       bigint      NOT NULL,
    duplicates        bigint      NOT NULL,
    quarantined       bigint      NOT NULL,
    merged_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
