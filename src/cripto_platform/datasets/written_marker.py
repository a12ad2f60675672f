"""``WrittenMarkerDataset``: the small JSON a table's writer saves beside the table ("this table was written").

The profiling pipeline loads a table's marker only so Kedro orders the profile after the node that
writes the table (the writer saves the table and its marker together, before any consumer runs).
``kedro run --pipeline profiling`` alone reads the markers left by the last run; on a fresh project
there is none yet, so loading a marker that does not exist returns ``None`` instead of failing (the
table itself is then reported as ``missing`` by its profile).
"""

from __future__ import annotations

from typing import Any

from kedro_datasets.json import JSONDataset


class WrittenMarkerDataset(JSONDataset):
    """A ``json.JSONDataset`` whose load returns ``None`` when the file does not exist (yet)."""

    def load(self) -> Any:
        self._invalidate_cache()  # an object store listing cached before this run's write
        if not self._exists():
            return None
        return super().load()


def written_marker(table: str, data: Any) -> dict[str, Any]:
    """The marker of ``table`` written from ``data``: a ``{version: frame}`` dict or one frame (pandas or Arrow).

    ``{"table": name, "versions": [...], "rows": n}``; ``rows`` is ``None`` when a frame is lazy (a callable).
    """
    frames = data if isinstance(data, dict) else {None: data}
    sizes = [None if callable(frame) else len(frame) for frame in frames.values()]
    return {
        "table": table,
        "versions": sorted(str(version) for version in frames if version is not None),
        "rows": None if None in sizes else int(sum(sizes)),
    }
