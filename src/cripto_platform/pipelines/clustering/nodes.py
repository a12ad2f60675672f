"""Clustering nodes: extract checks, ETL with quarantine, model selection, profiles, occupancy."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from kedro.utils import load_obj
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.model_selection import ParameterGrid
from sklearn.neighbors import KNeighborsClassifier

from cripto_platform.pipelines.clustering.features import check_required_columns, derive_features
from cripto_platform.pipelines.clustering.model import (
    ReservationSegmenter,
    build_preprocessor,
    to_model_input,
)
from cripto_platform.run_metadata import stamp_run
from cripto_platform.sources.reservations import generate_reservations

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = {"davies_bouldin"}
SOURCE_DATASET = "reservations@sql"


def seed_sample_reservations(params: dict[str, Any]) -> pd.DataFrame:
    """Seeded sample reservations for the warehouse ``reservations`` table."""
    return generate_reservations(
        n_reservations=params["n_reservations"],
        seed=params["seed"],
        start_date=params["start_date"],
        days=params["days"],
        invalid_fraction=params["invalid_fraction"],
    )


def clean_reservations(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed reservations with derived features, and the impossible rows with a reason."""
    if raw.empty:
        raise ValueError(
            f"dataset '{SOURCE_DATASET}' is empty: the warehouse table 'reservations' has no rows; "
            "nothing was overwritten"
        )
    check_required_columns(raw, SOURCE_DATASET)
    frame = derive_features(raw)
    checks = {
        "no guests": frame["total_guests"].fillna(0) <= 0,
        "negative price (adr < 0)": frame["adr"] < 0,
        "unparseable arrival date": frame["arrival_date"].isna(),
        "negative nights": frame["total_nights"].fillna(0) < 0,
        "departure before arrival": (frame["reservation_status"] == "Check-Out").fillna(False)
        & (frame["reservation_status_date"] < frame["arrival_date"]).fillna(False),
    }
    reasons = pd.Series("", index=frame.index, dtype="string")
    for reason, mask in checks.items():
        mask = mask.fillna(False).astype(bool)
        reasons = reasons.mask(mask, reasons.where(reasons == "", reasons + "; ") + reason)
    bad = reasons != ""
    quarantine = raw.loc[bad.to_numpy()].copy()
    quarantine["quarantine_reason"] = reasons[bad].to_numpy()
    clean = frame.loc[~bad.to_numpy()].reset_index(drop=True)
    if bad.any():
        counts = quarantine["quarantine_reason"].value_counts().to_dict()
        logger.warning(
            "quarantined %d of %d reservations from '%s': %s",
            int(bad.sum()), len(frame), SOURCE_DATASET, counts,
        )
    if clean.empty:
        raise ValueError(f"dataset '{SOURCE_DATASET}': every row was quarantined, nothing to cluster")
    return clean, quarantine.reset_index(drop=True)


def stamp_reservations_quarantine(quarantine: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """Quarantined rows stamped with the run that set them aside."""
    return stamp_run(quarantine, run_metadata)


def _score(features: np.ndarray, labels: np.ndarray, params: dict[str, Any]) -> dict[str, float]:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin over non-noise points."""
    clustered = labels != -1
    n_clusters = len(np.unique(labels[clustered]))
    result = {
        "n_clusters": n_clusters,
        "noise_fraction": float(1 - clustered.mean()),
        "silhouette": np.nan,
        "calinski_harabasz": np.nan,
        "davies_bouldin": np.nan,
    }
    if n_clusters < 2 or n_clusters >= clustered.sum():
        return result
    points, point_labels = features[clustered], labels[clustered]
    result["silhouette"] = float(
        silhouette_score(
            points, point_labels,
            sample_size=min(len(points), params["score_sample_size"]),
            random_state=params["random_state"],
        )
    )
    result["calinski_harabasz"] = float(calinski_harabasz_score(points, point_labels))
    result["davies_bouldin"] = float(davies_bouldin_score(points, point_labels))
    return result


def _build_estimator(class_path: str, grid_point: dict[str, Any], random_state: int):
    estimator_class = load_obj(class_path)
    estimator = estimator_class(**grid_point)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=random_state)
    return estimator


def _fit_labels(estimator, features: np.ndarray) -> np.ndarray:
    return np.asarray(estimator.fit_predict(features), dtype="int64")


def score_candidates(
    features: np.ndarray, candidates: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[int, Any]]:
    """Fit every candidate and grid point on ``features``; one score row each."""
    rows, fitted = [], {}
    total = sum(len(ParameterGrid(spec["grid"])) for spec in candidates.values())
    for algorithm, spec in candidates.items():
        for grid_point in ParameterGrid(spec["grid"]):
            estimator = _build_estimator(spec["class"], grid_point, params["random_state"])
            started = time.perf_counter()
            labels = _fit_labels(estimator, features)
            fit_seconds = time.perf_counter() - started
            logger.info("model selection %d/%d: %s %s fitted on %d rows in %.2fs",
                        len(rows) + 1, total, algorithm, json.dumps(grid_point, sort_keys=True), len(features),
                        fit_seconds)
            fitted[len(rows)] = (estimator, labels)
            rows.append(
                {
                    "algorithm": algorithm,
                    "estimator": spec["class"],
                    "params": json.dumps(grid_point, sort_keys=True),
                    "fit_rows": len(features),
                    "fit_seconds": round(fit_seconds, 4),
                    **_score(features, labels, params),
                }
            )
    return pd.DataFrame(rows), fitted


def rank_candidates(scores: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Mark valid candidates, rank them by the selection metric and flag the winner."""
    metric = selection["metric"]
    if metric not in ("silhouette", "calinski_harabasz", "davies_bouldin"):
        raise ValueError(f"parameter clustering.model_selection.selection.metric: unknown metric '{metric}'")
    ranked = scores.copy()
    ranked["valid"] = (
        ranked[metric].notna()
        & (ranked["n_clusters"] >= selection["min_clusters"])
        & (ranked["n_clusters"] <= selection["max_clusters"])
        & (ranked["noise_fraction"] <= selection["max_noise_fraction"])
    )
    ascending = metric in LOWER_IS_BETTER
    ordered = ranked[ranked["valid"]][metric].rank(ascending=ascending, method="first")
    ranked["rank"] = ordered.reindex(ranked.index).astype("Int64")
    ranked["selected"] = ranked["rank"] == 1
    if not ranked["selected"].any():
        raise ValueError(
            "model selection: no candidate satisfied the selection rule "
            f"{selection}; see the score table for each candidate's clusters and noise"
        )
    ranked["selection_metric"] = metric
    return ranked


def select_clustering_model(
    reservations: pd.DataFrame, params: dict[str, Any], run_metadata: dict[str, str]
) -> tuple[ReservationSegmenter, pd.DataFrame]:
    """Score every candidate on one sample, pick the winner by the rule, bundle it with its preprocessing."""
    numeric, categorical = list(params["features"]["numeric"]), list(params["features"]["categorical"])
    selection_params = params["model_selection"]
    columns = [*numeric, *categorical]
    preprocessor = build_preprocessor(numeric, categorical)
    features = preprocessor.fit_transform(to_model_input(reservations, columns))

    rng = np.random.default_rng(selection_params["random_state"])
    sample_size = min(len(features), selection_params["fit_sample_size"])
    sample = np.sort(rng.choice(len(features), size=sample_size, replace=False))
    scores, fitted = score_candidates(features[sample], selection_params["candidates"], selection_params)
    ranked = rank_candidates(scores, selection_params["selection"])

    winner_position = int(ranked.index[ranked["selected"]][0])
    winner = ranked.loc[winner_position]
    estimator, sample_labels = fitted[winner_position]
    assigner = None
    if hasattr(estimator, "predict") and selection_params["refit_inductive_on_all_rows"]:
        estimator.fit(features)  # linear-time methods see every row
    elif not hasattr(estimator, "predict"):
        assigner = KNeighborsClassifier(n_neighbors=selection_params["assign_neighbors"])
        assigner.fit(features[sample], sample_labels)
    logger.info(
        "selected %s %s by %s=%.4f among %d candidates",
        winner["algorithm"], winner["params"], winner["selection_metric"],
        winner[winner["selection_metric"]], len(ranked),
    )
    model = ReservationSegmenter(
        algorithm=str(winner["algorithm"]),
        params=json.loads(winner["params"]),
        numeric=numeric,
        categorical=categorical,
        preprocessor=preprocessor,
        estimator=estimator,
        assigner=assigner,
        run_metadata=dict(run_metadata),
    )
    return model, stamp_run(ranked, run_metadata)


def assign_clusters(
    model: ReservationSegmenter, reservations: pd.DataFrame, run_metadata: dict[str, str]
) -> pd.DataFrame:
    """Every clean reservation with its cluster, stamped with the run."""
    clustered = reservations.copy()
    clustered["cluster"] = model.predict(reservations)
    clustered["model_algorithm"] = model.algorithm
    return stamp_run(clustered, run_metadata)


def profile_clusters(clustered: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Size, share and feature means per cluster, with each categorical feature's most common value."""
    numeric = list(params["features"]["numeric"])
    grouped = clustered.groupby("cluster")
    profile = grouped[numeric].mean().add_prefix("mean_")
    profile.insert(0, "share", grouped.size() / len(clustered))
    profile.insert(0, "size", grouped.size())
    for column in params["features"]["categorical"]:
        counts = clustered.groupby(["cluster", column], observed=True).size()
        profile[f"top_{column}"] = counts.groupby(level=0).idxmax().str[1]
    profile = profile.reset_index()
    profile.insert(0, "run_id", clustered["run_id"].iloc[0])
    return profile


def _explode_stays(reservations: pd.DataFrame) -> pd.DataFrame:
    """One row per (reservation, night) of every stay that was not cancelled."""
    stays = reservations[(reservations["is_canceled"] == 0) & (reservations["total_nights"] > 0)]
    nights = stays["total_nights"].astype("int64").to_numpy()
    position = np.repeat(np.arange(len(stays)), nights)
    offset = np.arange(len(position)) - np.repeat(np.cumsum(nights) - nights, nights)
    return pd.DataFrame(
        {
            "reservation_id": stays["reservation_id"].to_numpy()[position],
            "hotel": stays["hotel"].to_numpy()[position],
            "night": stays["arrival_date"].to_numpy()[position] + offset.astype("timedelta64[D]"),
        }
    )


def compute_nightly_occupancy(reservations: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Rooms occupied and occupancy rate per hotel and night (capacity from parameters)."""
    nights = _explode_stays(reservations)
    occupancy = nights.groupby(["hotel", "night"]).size().rename("rooms_occupied").reset_index()
    observed_peak = occupancy.groupby("hotel")["rooms_occupied"].transform("max")
    capacity = occupancy["hotel"].map(params["hotel_rooms"]).astype("float64")
    missing = capacity.isna()
    if missing.any():
        logger.warning(
            "no room count for hotels %s in parameters clustering.occupancy.hotel_rooms; "
            "using their busiest night as capacity",
            sorted(occupancy.loc[missing, "hotel"].unique()),
        )
    occupancy["capacity"] = capacity.fillna(observed_peak.astype("float64"))
    occupancy["occupancy_rate"] = occupancy["rooms_occupied"] / occupancy["capacity"]
    return occupancy


def enrich_with_occupancy(clustered: pd.DataFrame, occupancy: pd.DataFrame) -> pd.DataFrame:
    """Add the hotel's occupancy on the arrival night and averaged over the stay."""
    rates = occupancy[["hotel", "night", "occupancy_rate"]]
    on_arrival = clustered[["reservation_id", "hotel", "arrival_date"]].merge(
        rates, left_on=["hotel", "arrival_date"], right_on=["hotel", "night"], how="left"
    )
    stay_rates = _explode_stays(clustered).merge(rates, on=["hotel", "night"], how="left")
    stay_mean = stay_rates.groupby("reservation_id")["occupancy_rate"].mean()
    enriched = clustered.copy()
    enriched["arrival_occupancy_rate"] = on_arrival["occupancy_rate"].fillna(0.0).to_numpy()
    enriched["stay_occupancy_rate"] = enriched["reservation_id"].map(stay_mean)
    return enriched


def publish_reservation_clusters(enriched: pd.DataFrame) -> pd.DataFrame:
    """Plain column types for the ``reservation_clusters`` warehouse table."""
    rows = enriched.copy()
    for column in rows.columns:
        if isinstance(rows[column].dtype, pd.StringDtype) or rows[column].dtype == object:
            rows[column] = rows[column].astype(object)
    return rows
