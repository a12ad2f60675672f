-- Whether everything payments_ddl.sql makes is in place (then it is not run: its DDL takes table locks even
-- when it changes nothing): both tables, both partial indexes, the autovacuum settings, and no index of the
-- older layout left to drop. Names are bound values here, not identifiers.
SELECT to_regclass(%(payments)s) IS NOT NULL
   AND to_regclass(%(merge_log)s) IS NOT NULL
   AND to_regclass(%(payments_current_key_hash)s) IS NOT NULL
   AND to_regclass(%(payments_client_current)s) IS NOT NULL
   AND to_regclass(%(payments_current_key)s) IS NULL
   AND coalesce((SELECT 'autovacuum_vacuum_scale_factor=0.02' = ANY (reloptions)
                 FROM pg_class WHERE oid = to_regclass(%(payments)s)), false)
