"""The clustering pipeline through a KedroSession against the embedded PostgreSQL."""

import pickle

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import run_kedro

pytestmark = pytest.mark.integration
SMALL = {"clustering.sample_data.n_reservations": 800}


def _versions(project, relative):
    return sorted(path.name for path in (project / relative).iterdir())


def _run_counts(engine):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("select run_id, count(*) from reservation_clusters group by run_id")
        ).all()
    return dict(rows)


def test_clustering_runs_keep_history_and_publish(kedro_project, warehouse_engine):
    with warehouse_engine.begin() as connection:
        connection.execute(sa.text("drop table if exists reservation_clusters cascade"))  # and its view
    run_kedro(kedro_project, "clustering", SMALL)
    first_runs = _run_counts(warehouse_engine)
    assert len(first_runs) == 1
    first_run_id, first_count = next(iter(first_runs.items()))

    model_version = _versions(kedro_project, "data/06_models/clustering_model.pkl")[0]
    with open(kedro_project / "data/06_models/clustering_model.pkl" / model_version / "clustering_model.pkl", "rb") as f:
        model = pickle.load(f)
    assert model.run_metadata["run_id"] == first_run_id
    with warehouse_engine.connect() as connection:
        raw = pd.read_sql("select * from reservations order by reservation_id limit 25", connection)
    labels = model.predict(raw)
    assert len(labels) == 25

    quarantine = pd.read_parquet(next((kedro_project / "data/02_intermediate/quarantine").rglob("*.parquet")))
    assert first_count + len(quarantine) == SMALL["clustering.sample_data.n_reservations"]
    published = pd.read_sql("select * from reservation_clusters", warehouse_engine)
    assert set(published["cluster"]) == set(labels) | set(published["cluster"])  # same label space
    assert published["arrival_occupancy_rate"].between(0, 1.5).all()

    run_kedro(kedro_project, "clustering", SMALL)
    both_runs = _run_counts(warehouse_engine)
    assert len(both_runs) == 2
    assert both_runs[first_run_id] == first_count  # the first run's rows are kept
    assert len(_versions(kedro_project, "data/06_models/clustering_model.pkl")) == 2
    assert len(_versions(kedro_project, "data/08_reporting/reservation_clusters_history.parquet")) == 2


def test_empty_source_fails_clearly_and_overwrites_nothing(kedro_project, warehouse_engine):
    run_kedro(kedro_project, "clustering", SMALL)
    models_before = _versions(kedro_project, "data/06_models/clustering_model.pkl")
    counts_before = _run_counts(warehouse_engine)
    with warehouse_engine.begin() as connection:
        connection.execute(sa.text("truncate reservations"))
    with pytest.raises(ValueError, match="'reservations@sql' is empty"):
        run_kedro(kedro_project, "clustering", from_nodes=["clustering.clean_reservations"])
    assert _versions(kedro_project, "data/06_models/clustering_model.pkl") == models_before
    assert _run_counts(warehouse_engine) == counts_before


def test_latest_view_has_each_reservation_once_from_the_latest_run(kedro_project, warehouse_engine):
    with warehouse_engine.begin() as connection:
        connection.execute(sa.text("drop table if exists reservation_clusters cascade"))
    run_kedro(kedro_project, "clustering", SMALL)
    (first_run_id, per_run), = _run_counts(warehouse_engine).items()
    run_kedro(kedro_project, "clustering", SMALL)
    latest_run_id = (set(_run_counts(warehouse_engine)) - {first_run_id}).pop()

    table = pd.read_sql("select * from reservation_clusters", warehouse_engine)
    assert len(table) == 2 * per_run  # every run's rows, by design: each reservation twice
    latest = pd.read_sql("select * from reservation_clusters_latest", warehouse_engine)
    assert len(latest) == per_run and latest["reservation_id"].is_unique
    assert set(latest["run_id"]) == {latest_run_id}
    assert list(latest.columns) == list(table.columns)


def test_the_quarantine_share_is_checked_against_this_run_s_rows_not_every_run_s(kedro_project, warehouse_engine,
                                                                                caplog):
    """reservation_clusters keeps every run's rows: counted whole, a quarantine share would shrink with each run (a
    60% quarantine reads 13% after ten runs and passes). The check counts the latest run's rows (the view)."""
    import logging

    with warehouse_engine.begin() as connection:
        connection.execute(sa.text("drop table if exists reservation_clusters cascade"))
    shares = []
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="cripto_platform.quality.deliverables"):
            run_kedro(kedro_project, "clustering", SMALL)
        (line,) = [r.getMessage() for r in caplog.records if "deliverables checked" in r.getMessage()]
        shares.append(line.split("highest quarantine share ")[1])
    assert len(_run_counts(warehouse_engine)) == 2  # the table holds both runs' rows
    assert shares[0] == shares[1] and shares[0].endswith("(reservations_quarantine)"), shares
