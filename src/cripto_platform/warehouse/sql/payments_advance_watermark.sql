-- Record how far a source has been read (same transaction as the merge it belongs to).
INSERT INTO {watermarks} (name, last_update, run_id, recorded_at)
VALUES (%(name)s, %(last_update)s, %(run_id)s, now())
ON CONFLICT (name) DO UPDATE
SET last_update = EXCLUDED.last_update,
    run_id = EXCLUDED.run_id,
    recorded_at = EXCLUDED.recorded_at;
