"""Unit tests for the clustering nodes, called directly on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from cripto_platform.pipelines.clustering import nodes
from cripto_platform.run_metadata import new_run_metadata
from cripto_platform.sources.reservations import generate_reservations
from tests.conftest import PROJECT_ROOT

PARAMS = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_clustering.yml").read_text())["clustering"]
SELECTION = PARAMS["model_selection"]["selection"]


@pytest.fixture
def raw():
    return generate_reservations(300, seed=7)


def test_generator_is_reproducible_and_has_the_public_columns(raw):
    again = generate_reservations(300, seed=7)
    pd.testing.assert_frame_equal(raw, again)
    assert {"hotel", "lead_time", "adr", "reservation_status_date", "is_canceled"} <= set(raw.columns)
    assert "guest_segment" not in raw.columns


def test_clean_derives_features(raw):
    clean, quarantine = nodes.clean_reservations(raw)
    assert quarantine.empty
    first = clean.iloc[0]
    assert first["total_nights"] == first["stays_in_weekend_nights"] + first["stays_in_week_nights"]
    assert first["departure_date"] == first["arrival_date"] + pd.Timedelta(days=int(first["total_nights"]))
    assert first["total_guests"] == first["adults"] + first["children"] + first["babies"]
    assert clean["arrival_weekday"].between(0, 6).all()


def test_impossible_rows_are_quarantined_with_reasons(raw):
    broken = raw.copy()
    broken.loc[0, ["adults", "children", "babies"]] = 0
    broken.loc[1, "adr"] = -5.0
    broken.loc[2, ["reservation_status", "reservation_status_date"]] = ["Check-Out", pd.Timestamp("2000-01-01")]
    broken.loc[3, ["adults", "children", "babies", "adr"]] = [0, 0, 0, -1.0]
    clean, quarantine = nodes.clean_reservations(broken)
    reasons = dict(zip(quarantine["reservation_id"], quarantine["quarantine_reason"]))
    ids = broken["reservation_id"]
    assert reasons[ids[0]] == "no guests"
    assert reasons[ids[1]] == "negative price (adr < 0)"
    assert reasons[ids[2]] == "departure before arrival"
    assert reasons[ids[3]] == "no guests; negative price (adr < 0)"
    assert len(clean) + len(quarantine) == len(broken)  # nothing silently dropped
    assert not set(quarantine["reservation_id"]) & set(clean["reservation_id"])


def test_missing_columns_are_named(raw):
    with pytest.raises(ValueError, match=r"reservations@sql.*missing required columns: hotel, adr"):
        nodes.clean_reservations(raw.drop(columns=["hotel", "adr"]))


def test_empty_source_is_a_clear_error(raw):
    with pytest.raises(ValueError, match=r"'reservations@sql' is empty"):
        nodes.clean_reservations(raw.iloc[0:0])


def _scores(**metric_values):
    base = {"algorithm": ["a", "b", "c"], "n_clusters": [3, 4, 1], "noise_fraction": [0.0, 0.0, 0.0]}
    return pd.DataFrame({**base, **metric_values})


def test_rank_uses_metric_direction():
    scores = _scores(silhouette=[0.2, 0.5, np.nan], davies_bouldin=[0.4, 0.9, np.nan])
    by_silhouette = nodes.rank_candidates(scores, {**SELECTION, "metric": "silhouette"})
    by_db = nodes.rank_candidates(scores, {**SELECTION, "metric": "davies_bouldin"})
    assert by_silhouette.loc[by_silhouette["selected"], "algorithm"].item() == "b"
    assert by_db.loc[by_db["selected"], "algorithm"].item() == "a"  # lower is better
    assert not by_silhouette.loc[2, "valid"]  # a single cluster is never a candidate


def test_rank_rejects_noisy_candidates_and_unknown_metrics():
    scores = _scores(silhouette=[0.2, 0.9, np.nan])
    scores.loc[1, "noise_fraction"] = 0.6
    ranked = nodes.rank_candidates(scores, {**SELECTION, "metric": "silhouette", "max_noise_fraction": 0.25})
    assert ranked.loc[ranked["selected"], "algorithm"].item() == "a"
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        nodes.rank_candidates(scores, {**SELECTION, "metric": "accuracy"})
    with pytest.raises(ValueError, match="no candidate satisfied"):
        nodes.rank_candidates(scores, {**SELECTION, "metric": "silhouette", "min_clusters": 10})


def test_every_candidate_and_grid_point_is_scored(raw):
    clean, _ = nodes.clean_reservations(raw)
    params = {**PARAMS, "model_selection": {**PARAMS["model_selection"], "fit_sample_size": 200}}
    model, scores = nodes.select_clustering_model(clean, params, new_run_metadata())
    expected = sum(
        int(np.prod([len(v) for v in spec["grid"].values()]))
        for spec in params["model_selection"]["candidates"].values()
    )
    assert len(scores) == expected
    assert set(scores["algorithm"]) == {"kmeans", "gaussian_mixture", "dbscan", "agglomerative"}
    assert scores["selected"].sum() == 1
    assert (scores["fit_rows"] == 200).all()  # every candidate on the same bounded sample
    assert scores["run_id"].nunique() == 1
    winner = scores.loc[scores["selected"]].iloc[0]
    assert model.algorithm == winner["algorithm"]
    assert len(model.predict(raw.head(10))) == 10


def test_quadratic_winner_assigns_rows_by_neighbours(raw):
    clean, _ = nodes.clean_reservations(raw)
    only_agglomerative = {
        **PARAMS,
        "model_selection": {
            **PARAMS["model_selection"],
            "fit_sample_size": 100,
            "candidates": {"agglomerative": PARAMS["model_selection"]["candidates"]["agglomerative"]},
        },
    }
    model, _ = nodes.select_clustering_model(clean, only_agglomerative, new_run_metadata())
    assert model.assigner is not None
    labels = model.predict(raw)
    assert len(labels) == len(raw) and set(labels) <= set(range(12))


def _stays():
    return pd.DataFrame(
        {
            "reservation_id": [1, 2, 3, 4],
            "hotel": ["H", "H", "H", "H"],
            "is_canceled": [0, 0, 1, 0],
            "total_nights": [2, 1, 3, 1],
            "arrival_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-05"]),
        }
    )


def test_nightly_occupancy_counts_rooms_per_night():
    occupancy = nodes.compute_nightly_occupancy(_stays(), {"hotel_rooms": {"H": 4}})
    by_night = occupancy.set_index("night")["rooms_occupied"].to_dict()
    # 1: nights 1st+2nd, 2: night 2nd, 3: cancelled, 4: night 5th
    assert by_night == {
        pd.Timestamp("2024-01-01"): 1,
        pd.Timestamp("2024-01-02"): 2,
        pd.Timestamp("2024-01-05"): 1,
    }
    assert occupancy.set_index("night").loc["2024-01-02", "occupancy_rate"] == 0.5


def test_unknown_hotel_capacity_falls_back_to_busiest_night():
    occupancy = nodes.compute_nightly_occupancy(_stays(), {"hotel_rooms": {}})
    assert occupancy["capacity"].eq(2).all()


def test_enrich_adds_arrival_and_stay_occupancy():
    stays = _stays()
    occupancy = nodes.compute_nightly_occupancy(stays, {"hotel_rooms": {"H": 4}})
    enriched = nodes.enrich_with_occupancy(stays, occupancy).set_index("reservation_id")
    assert enriched.loc[1, "arrival_occupancy_rate"] == 0.25
    assert enriched.loc[1, "stay_occupancy_rate"] == pytest.approx((0.25 + 0.5) / 2)
    assert enriched.loc[2, "arrival_occupancy_rate"] == 0.5
    assert np.isnan(enriched.loc[3, "stay_occupancy_rate"])  # cancelled: no stay


def test_profile_has_size_share_and_means():
    clustered = pd.DataFrame(
        {
            "run_id": "r",
            "cluster": [0, 0, 1],
            "lead_time": [10.0, 20.0, 100.0],
            "hotel": ["A", "A", "B"],
        }
    )
    params = {"features": {"numeric": ["lead_time"], "categorical": ["hotel"]}}
    profile = nodes.profile_clusters(clustered, params).set_index("cluster")
    assert profile.loc[0, "size"] == 2 and profile.loc[1, "share"] == pytest.approx(1 / 3)
    assert profile.loc[0, "mean_lead_time"] == 15.0
    assert profile.loc[1, "top_hotel"] == "B"


def test_assign_clusters_stamps_the_run(raw):
    clean, _ = nodes.clean_reservations(raw)
    metadata = new_run_metadata("2024-01-01T00.00.00.000Z")
    model, _ = nodes.select_clustering_model(
        clean, {**PARAMS, "model_selection": {**PARAMS["model_selection"], "fit_sample_size": 150}}, metadata
    )
    clustered = nodes.assign_clusters(model, clean, metadata)
    assert (clustered["run_id"] == metadata["run_id"]).all()
    assert clustered["run_started_at"].notna().all()
    assert model.run_metadata["run_id"] == metadata["run_id"]
