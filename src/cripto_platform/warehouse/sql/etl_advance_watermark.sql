-- Advance a source's watermark, never backwards (GREATEST of the stored and the new value: an equal or
-- older value leaves the row, its run_id and recorded_at, untouched).
INSERT INTO {watermarks} (name, last_update, run_id, recorded_at)
VALUES (%(name)s, %(last_update)s, %(run_id)s, now())
ON CONFLICT (name) DO UPDATE
SET last_update = EXCLUDED.last_update,
    run_id = EXCLUDED.run_id,
    recorded_at = EXCLUDED.recorded_at
WHERE EXCLUDED.last_update > {watermarks}.last_update;
