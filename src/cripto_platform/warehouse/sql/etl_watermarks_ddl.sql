-- How far each source has been read (one row per source; advanced in the same transaction as its load).
CREATE TABLE IF NOT EXISTS {watermarks} (
    name         text        PRIMARY KEY,
    last_update  timestamptz NOT NULL,
    run_id       text,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

