"""``LakeScanDataset``: a lake table's version as a lazy handle, and what a check makes of a version not written."""

import pandas as pd
import pytest

from cripto_platform.datasets.lake import LakeTableDataset
from cripto_platform.datasets.lake_scan import LakeScanDataset
from cripto_platform.quality.deliverables import DeliverableCheckError, check_deliverables


@pytest.fixture
def lake(tmp_path):
    table = LakeTableDataset(path=str(tmp_path / "credit_risk"), table="loans")
    table.save({"20240301": pd.DataFrame({"v": [1, 2, 3]})})
    table.save({"20240401": pd.DataFrame({"v": [1, 2, 3, 4, 5]})})
    return tmp_path / "credit_risk"


def test_the_scan_reads_the_newest_version_or_the_one_asked_for_without_reading_rows(lake):
    newest = LakeScanDataset(name="kaggle_credit_risk", path=str(lake), table="loans").load()
    assert (newest.exists, newest.version, newest.dataset().count_rows()) == (True, "20240401", 5)
    backfill = LakeScanDataset(name="kaggle_credit_risk", path=str(lake), table="loans").load().at_version(20240301)
    assert (backfill.version, backfill.dataset().count_rows()) == ("20240301", 3)


def test_a_version_not_written_is_reported_not_written_not_raised(lake):
    """A backfill of a source that wrote nothing for its version (disabled, or failed earlier): the check names it."""
    missing = LakeScanDataset(name="kaggle_credit_risk", path=str(lake), table="loans").load().at_version("20240201")
    assert (missing.exists, missing.version) == (False, "20240201")
    with pytest.raises(DeliverableCheckError, match="kaggle_credit_risk: not written"):
        check_deliverables({"required": ["kaggle_credit_risk"], "quarantine_of": {}, "max_quarantine_share": 0.5},
                           kaggle_credit_risk=missing)


def test_a_backfill_is_recorded_and_checked_at_its_own_version_not_the_newest(lake):
    """A run writing 20240301 after 20240401 exists: its 4 quarantined lines are 4 of 7 (its 3 kept rows), not 4 of 9
    (the newest version's 5), and the record says 20240301."""
    from cripto_platform.pipelines.ingestion.common import record_lake_tables

    scan = LakeScanDataset(name="kaggle_credit_risk", path=str(lake), table="loans").load()
    assert scan.version == "20240401"
    assert scan.at_version("20240301").dataset().count_rows() == 3
    assert not scan.at_version("20240201").exists
    record = record_lake_tables("20240301", kaggle_credit_risk=scan)
    assert (record["kaggle_credit_risk"]["version"], record["kaggle_credit_risk"]["rows"]) == ("20240301", 3)
    rules = {"required": ["kaggle_credit_risk"], "quarantine_of": {"credit_risk_quarantine": "kaggle_credit_risk"},
             "max_quarantine_share": 0.5}
    with pytest.raises(DeliverableCheckError, match=r"4 of 7 rows quarantined \(57\.1%\)"):
        check_deliverables(rules, run_version="20240301", kaggle_credit_risk=scan,
                           credit_risk_quarantine=pd.DataFrame({"line": range(4)}))


def test_a_lazy_lake_table_loads_a_handle_that_reads_the_same_rows_and_still_previews(lake):
    """Lake tables load lazily (the ingestion check and record read them back without loading them); kedro-viz
    still previews them (a transcoded "@scan" twin would have no preview in kedro-viz 12.5)."""
    from cripto_platform.profiling.sources import ParquetSource

    lazy = LakeTableDataset(path=str(lake), table="loans", lazy=True)
    handle = lazy.load()
    assert isinstance(handle, ParquetSource) and handle.version == "20240401"
    eager = LakeTableDataset(path=str(lake), table="loans").load()
    pd.testing.assert_frame_equal(handle.to_pandas(), eager)
    assert lazy.preview(2)["data"] == [[1], [2]]
    empty = LakeTableDataset(path=str(lake.parent / "never"), table="loans", lazy=True).load()
    assert not empty.exists and empty.to_pandas().empty
