"""The pickled clustering model: preprocessing + the winning clusterer in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cripto_platform.pipelines.clustering.features import derive_features


def build_preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """Scale numeric features and one-hot encode categorical ones."""
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="unknown"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ]
    )


def to_model_input(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Plain numpy-backed columns, as scikit-learn expects (no pandas NA scalars)."""
    selected = frame[columns].copy()
    for column in columns:
        if pd.api.types.is_numeric_dtype(selected[column]):
            selected[column] = selected[column].astype("float64")
        else:
            selected[column] = selected[column].astype(object).where(selected[column].notna(), np.nan)
    return selected


@dataclass
class ReservationSegmenter:
    """``predict(raw_reservation_rows)`` gives a segment per reservation.

    Methods without ``predict`` (DBSCAN, agglomerative) were fitted on a sample; new rows
    are assigned by a nearest-neighbour classifier trained on that sample's labels.
    """

    algorithm: str
    params: dict[str, Any]
    numeric: list[str]
    categorical: list[str]
    preprocessor: ColumnTransformer
    estimator: Any
    assigner: KNeighborsClassifier | None = None
    run_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def transform(self, raw: pd.DataFrame) -> np.ndarray:
        """Derived features, scaled and encoded, from raw reservation rows."""
        return self.preprocessor.transform(to_model_input(derive_features(raw), self.columns))

    def predict(self, raw: pd.DataFrame) -> np.ndarray:
        """Cluster label of each raw reservation row."""
        features = self.transform(raw)
        predictor = self.assigner if self.assigner is not None else self.estimator
        return np.asarray(predictor.predict(features), dtype="int64")
