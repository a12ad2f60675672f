-- How far companies are read: the newest update in the committed dimension (no run recorded).
SELECT max(updated_at), NULL::text
FROM {companies};
