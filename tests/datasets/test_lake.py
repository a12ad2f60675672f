"""Lake datasets: versioned partitioned tables, raw bytes, lake root (and the hook that checks it)."""

import pandas as pd
import pytest
from kedro.io import DatasetError

from cripto_platform.datasets import BytesDataset, LakeRootDataset, LakeTableDataset


def test_versions_are_kept_and_the_newest_is_loaded(tmp_path):
    dataset = LakeTableDataset(path=str(tmp_path / "src"), table="t", partition_cols=["k"])
    dataset.save({"20240101": pd.DataFrame({"k": ["a", "b"], "v": [1, 2]})})
    dataset.save({"20240102": pd.DataFrame({"k": ["a"], "v": [3]})})
    assert dataset.versions() == ["20240101", "20240102"]
    assert dataset.load()["v"].tolist() == [3]
    assert (tmp_path / "src/20240101/t/k=b").is_dir()
    old = LakeTableDataset(path=str(tmp_path / "src"), table="t", partition_cols=["k"], load_version="20240101").load()
    assert sorted(old["v"]) == [1, 2]
    dataset.save({"20240102": pd.DataFrame({"k": ["c"], "v": [4]})})  # same version: replaced
    assert dataset.load()["v"].tolist() == [4]


def test_missing_tables_and_bad_versions(tmp_path):
    assert LakeTableDataset(path=str(tmp_path), table="t", missing_ok=True).load().empty
    with pytest.raises(DatasetError, match="no version"):
        LakeTableDataset(path=str(tmp_path), table="t").load()
    with pytest.raises(DatasetError, match="not yyyymmdd"):
        LakeTableDataset(path=str(tmp_path), table="t").save({"latest": pd.DataFrame({"v": [1]})})
    with pytest.raises(DatasetError, match=r"partition column\(s\) \['k'\]"):
        LakeTableDataset(path=str(tmp_path), table="t", partition_cols=["k"]).save({"20240101": pd.DataFrame({"v": [1]})})


def test_bytes_are_stored_exactly(tmp_path):
    dataset = BytesDataset(filepath=str(tmp_path / "a/b/raw.csv"))
    dataset.save(b"x;y\r\n1;\xff\n")
    assert dataset.load() == b"x;y\r\n1;\xff\n"


def test_lake_root_reports_existence(tmp_path):
    assert LakeRootDataset(path=str(tmp_path)).load()["exists"] is True
    assert LakeRootDataset(path=str(tmp_path / "nope")).load()["exists"] is False


def test_a_failed_write_keeps_the_version_already_stored(tmp_path, monkeypatch):
    from cripto_platform.datasets import lake

    dataset = LakeTableDataset(path=str(tmp_path), table="t", partition_cols=["k"])
    dataset.save({"20240101": pd.DataFrame({"k": ["a"], "v": [1]})})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(lake, "_write_dataset", broken)
    with pytest.raises(DatasetError, match="Failed while saving"):  # kedro wraps the OSError
        dataset.save({"20240101": pd.DataFrame({"k": ["b"], "v": [2]})})
    assert dataset.load()["v"].tolist() == [1]
    assert sorted(p.name for p in (tmp_path / "20240101").iterdir()) == ["t"]  # no staging left behind


def _identity(value):
    return value


def test_lake_root_hook_stops_an_ingestion_run_naming_the_missing_bucket():
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Node, Pipeline

    from cripto_platform.hooks import LakeRootHooks
    from cripto_platform.pipelines.ingestion.common import LakeRootMissingError

    missing = {"root": "s3://no-such-bucket", "protocol": "s3", "exists": False, "error": None}
    catalog = DataCatalog(datasets={"lake_root": MemoryDataset(missing)})
    ingestion = Pipeline([Node(func=_identity, inputs="a", outputs="b", name="n")], namespace="ingestion",
                         prefix_datasets_with_namespace=False)
    with pytest.raises(LakeRootMissingError, match="lake root 's3://no-such-bucket' does not exist"):
        LakeRootHooks().before_pipeline_run({}, ingestion, catalog)
    LakeRootHooks().before_pipeline_run({}, Pipeline([Node(func=_identity, inputs="a", outputs="b", name="n")]), catalog)
