"""``WrittenMarkerDataset``: a small JSON record of what a run wrote (``ingestion_lake_tables`` keeps one).

``kedro run --pipeline profiling`` alone reads the record left by the last ingestion run; on a fresh project
there is none yet, so loading a record that does not exist returns ``None`` instead of failing.
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
