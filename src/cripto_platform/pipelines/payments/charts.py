"""Charts kedro-viz draws for the payments run: small pure functions returning plotly figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

COUNTS = ("inserted_new", "inserted_changed", "closed_changed", "unchanged", "invalidated", "duplicates", "quarantined")


def chart_payments_merges(merges: pd.DataFrame) -> go.Figure:
    """What each SCD2 merge of payments_l0 did, one group of bars per run (from its merge log)."""
    log = merges.sort_values("merged_at")
    runs = [f"{str(run)[:8]} {pd.Timestamp(at):%Y-%m-%d %H:%M}" for run, at in zip(log["run_id"], log["merged_at"],
                                                                                   strict=True)]
    figure = go.Figure()
    for count in COUNTS:
        figure.add_bar(name=count.replace("_", " "), x=runs, y=log[count].astype(int))
    figure.update_layout(title="payments_l0 merges: rows per run", barmode="group", xaxis_title="run (id, merged at)",
                         yaxis_title="rows", template="plotly_white")
    return figure
