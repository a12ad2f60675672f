-- reservation_clusters_latest: the latest clustering run's rows of reservation_clusters, one row per
-- reservation (the table keeps every run's rows, so a plain select sees each reservation once per run).
-- Run by WarehouseTableDataset in the same transaction as every save of the table (catalog entry
-- reservation_clusters, views: [reservation_clusters_latest.sql]), so the view's columns follow the table's.
-- The latest run is the one started last (run_started_at); two runs started in the same second are
-- told apart by run_id, arbitrarily but always the same way.
DROP VIEW IF EXISTS reservation_clusters_latest;

CREATE VIEW reservation_clusters_latest AS
SELECT *
FROM reservation_clusters
WHERE run_id = (
    SELECT run_id
    FROM reservation_clusters
    ORDER BY run_started_at DESC, run_id DESC
    LIMIT 1
);
