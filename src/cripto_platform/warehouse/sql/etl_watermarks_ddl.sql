-- How far each source has been read (one row per source). Confirmed after the load it follows has
-- committed (etl_advance_watermark.sql, only forward); the load's own record is the authority.
CREATE TABLE IF NOT EXISTS {watermarks} (
    name         text        PRIMARY KEY,
    last_update  timestamptz NOT NULL,
    run_id       text,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
