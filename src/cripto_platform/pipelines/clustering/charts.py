"""Charts kedro-viz draws for the clustering run: small pure functions returning plotly figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.decomposition import PCA

from cripto_platform.pipelines.clustering.model import ReservationSegmenter

MAX_POINTS = 3000  # points drawn (a fixed, seeded sample), so the chart JSON stays small


def chart_cluster_projection(model: ReservationSegmenter, clustered: pd.DataFrame) -> go.Figure:
    """2-D PCA of the features the model clustered (scaled, encoded), one colour per cluster."""
    rows = clustered
    if len(rows) > MAX_POINTS:
        rows = rows.iloc[np.sort(np.random.default_rng(0).choice(len(rows), MAX_POINTS, replace=False))]
    features = model.transform(rows)
    features = features.toarray() if hasattr(features, "toarray") else np.asarray(features, dtype=float)
    pca = PCA(n_components=2, random_state=0)
    points = pca.fit_transform(features)
    figure = go.Figure()
    for cluster in sorted(rows["cluster"].unique()):
        mask = (rows["cluster"] == cluster).to_numpy()
        figure.add_scattergl(x=points[mask, 0], y=points[mask, 1], mode="markers", marker={"size": 4, "opacity": 0.6},
                             name="noise" if cluster == -1 else f"cluster {cluster}")
    explained = pca.explained_variance_ratio_
    figure.update_layout(
        title=f"Clusters ({model.algorithm}) on the first two principal components; {len(rows)} of "
              f"{len(clustered)} reservations",
        xaxis_title=f"PC1 ({explained[0]:.0%} of variance)", yaxis_title=f"PC2 ({explained[1]:.0%} of variance)",
        template="plotly_white", legend_title="cluster",
    )
    return figure


def chart_model_selection(ranked: pd.DataFrame) -> go.Figure:
    """The selection metric of every candidate, the winner highlighted, invalid candidates greyed."""
    metric = str(ranked["selection_metric"].iloc[0])
    labels = [f"{a} {p}" for a, p in zip(ranked["algorithm"], ranked["params"], strict=True)]
    colours = ["#d62728" if s else ("#1f77b4" if v else "#bbbbbb")
               for s, v in zip(ranked["selected"].fillna(False), ranked["valid"], strict=True)]
    figure = go.Figure(go.Bar(x=ranked[metric].astype(float), y=labels, orientation="h", marker_color=colours,
                              customdata=ranked[["n_clusters", "noise_fraction"]].to_numpy(),
                              hovertemplate="%{y}<br>" + metric + " %{x:.4f}<br>clusters %{customdata[0]}"
                                            "<br>noise %{customdata[1]:.1%}<extra></extra>"))
    figure.update_layout(title=f"Model selection by {metric} (red: selected, grey: outside the rule)",
                         xaxis_title=metric, yaxis={"autorange": "reversed"}, template="plotly_white",
                         margin={"l": 10})
    return figure
