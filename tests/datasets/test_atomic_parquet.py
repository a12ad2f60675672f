"""Parquet files of the payments pipeline survive a writer killed mid-write (issue 9, item 11).

The catalog entries are the project's own (``conf/base/catalog_payments.yml``), pointed at a
temporary lake. A child process saves through them and is SIGKILLed while the file is half written;
the parent then loads the dataset and must get the previous content, with no partial file visible.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError

from tests.conftest import PROJECT_ROOT

# Runs in the child: save `data` to `name`, with DataFrame.to_parquet writing half of the file's bytes
# to the handle it is given, flushing them, announcing it on stdout and then blocking until killed.
CHILD = textwrap.dedent(
    """
    import io, json, sys, time
    import pandas as pd
    from kedro.io import DataCatalog

    from tests.datasets.test_atomic_parquet import _frame

    config, name, n, offset, pad, partition = json.loads(sys.argv[1])
    data = _frame(n, offset, pad)
    real_to_parquet = pd.DataFrame.to_parquet

    def half_then_block(self, path=None, *args, **kwargs):
        buffer = io.BytesIO()
        real_to_parquet(self, buffer, *args, **kwargs)
        content = buffer.getvalue()
        handle = path if hasattr(path, "write") else open(path, "wb")
        handle.write(content[: len(content) // 2])
        handle.flush()
        print("half written", flush=True)
        time.sleep(120)

    pd.DataFrame.to_parquet = half_then_block
    catalog = DataCatalog.from_config(config)
    catalog.save(name, {partition: data} if partition else data)
    """
)


def _payments_catalog_config(lake) -> dict:
    """The project's payments catalog entries with the lake at ``lake`` (as ``--env`` would set it)."""
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local")
    entries = loader["catalog"]
    config = {}
    for name in ("payments_landing", "payments_landing_merged", "payments_index"):
        entry = dict(entries[name])
        entry.pop("lazy", None)  # these tests load what they saved
        for key in ("path", "filepath"):
            if key in entry:
                entry[key] = str(lake) + entry[key].removeprefix("data")
        config[name] = entry
    return config


def _kill_mid_write(
    config: dict, name: str, n: int, offset: int = 0, pad: int = 0, partition: str | None = None
) -> None:
    """Save ``_frame(n, offset, pad)`` to ``name`` in a child process and SIGKILL it half way."""
    payload = json.dumps([config, name, n, offset, pad, partition])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, payload],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "half written", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _frame(n: int, offset: int = 0, pad: int = 0) -> pd.DataFrame:
    """``n`` payments from id ``offset``; ``pad`` > 0 adds that many random hex characters per row."""
    frame = pd.DataFrame({"payment_id": range(offset, offset + n), "status": ["paid"] * n})
    if pad:
        rng = np.random.default_rng(offset)
        frame["note"] = [rng.bytes(pad // 2).hex() for _ in range(n)]
    return frame


def test_index_killed_mid_write_keeps_the_previous_file(tmp_path):
    config = _payments_catalog_config(tmp_path)
    previous = _frame(1000)
    DataCatalog.from_config(config).save("payments_index", previous)

    _kill_mid_write(config, "payments_index", 5000, offset=10_000)

    pd.testing.assert_frame_equal(DataCatalog.from_config(config).load("payments_index"), previous)
    folder = tmp_path / "04_feature"
    assert [path.name for path in folder.glob("*.parquet")] == ["payments_index.parquet"]


def _mark_merged(catalog: DataCatalog, partition: str) -> None:
    if "payments_landing_merged" in catalog:
        catalog.save("payments_landing_merged", {partition: pd.DataFrame({"run_id": [partition.rsplit("_", 1)[-1]]})})


def test_landing_killed_mid_write_shows_no_partial_file(tmp_path):
    config = _payments_catalog_config(tmp_path)
    catalog = DataCatalog.from_config(config)
    landed = _frame(300)
    catalog.save("payments_landing", {"process_date=2026-03-01/payments_run1": landed})
    _mark_merged(catalog, "process_date=2026-03-01/payments_run1")

    # a new run's file, killed half written
    _kill_mid_write(config, "payments_landing", 4000, 500, partition="process_date=2026-03-02/payments_run2")
    # and a rewrite of the merged run's file, killed half written
    _kill_mid_write(config, "payments_landing", 4000, 500, partition="process_date=2026-03-01/payments_run1")

    partitions = DataCatalog.from_config(config).load("payments_landing")
    assert list(partitions) == ["process_date=2026-03-01/payments_run1"]
    pd.testing.assert_frame_equal(partitions["process_date=2026-03-01/payments_run1"](), landed)


@pytest.mark.integration
def test_index_round_trips_on_s3(tmp_path, s3_bucket):
    config = _payments_catalog_config(f"s3://{s3_bucket}")
    frame = _frame(2000)
    DataCatalog.from_config(config).save("payments_index", frame)
    pd.testing.assert_frame_equal(DataCatalog.from_config(config).load("payments_index"), frame)

    import boto3

    keys = [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["04_feature/payments_index.parquet"]


@pytest.mark.integration
def test_index_on_s3_killed_mid_upload_keeps_the_previous_object(tmp_path, s3_bucket):
    config = _payments_catalog_config(f"s3://{s3_bucket}")
    previous = _frame(1000)
    DataCatalog.from_config(config).save("payments_index", previous)

    # ~15 MB in 5 MB blocks (s3fs' smallest): a multipart upload is under way when the child is killed
    config["payments_index"]["fs_args"] = {"default_block_size": 5 * 2**20}
    _kill_mid_write(config, "payments_index", 8000, offset=10_000, pad=2000)

    pd.testing.assert_frame_equal(DataCatalog.from_config(config).load("payments_index"), previous)


@pytest.mark.integration
def test_index_on_s3_failing_mid_write_keeps_the_previous_object(tmp_path, s3_bucket, monkeypatch):
    config = _payments_catalog_config(f"s3://{s3_bucket}")
    previous = _frame(1000)
    DataCatalog.from_config(config).save("payments_index", previous)

    real_to_parquet = pd.DataFrame.to_parquet

    def half_then_fail(self, path=None, *args, **kwargs):
        buffer = io.BytesIO()
        real_to_parquet(self, buffer, *args, **kwargs)
        path.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("disk went away")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)
    with pytest.raises(DatasetError, match="disk went away"):
        DataCatalog.from_config(config).save("payments_index", _frame(5000, offset=10_000))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real_to_parquet)

    pd.testing.assert_frame_equal(DataCatalog.from_config(config).load("payments_index"), previous)


def test_a_lazy_versioned_file_loads_the_version_pandas_would(tmp_path):
    """client_payment_metrics and company_cooccurrence are versioned and lazy: the handle is the newest version's
    file (what pandas would read), counted from its footer."""
    from kedro.io import Version

    from cripto_platform.datasets.atomic_parquet import AtomicParquetDataset

    path = str(tmp_path / "metrics.parquet")
    AtomicParquetDataset(filepath=path, version=Version(None, "2026-11-26T10.00.00.000Z")).save(_frame(3))
    AtomicParquetDataset(filepath=path, version=Version(None, "2026-11-27T10.00.00.000Z")).save(_frame(5))
    handle = AtomicParquetDataset(filepath=path, version=Version(None, None), lazy=True).load()
    assert handle.exists and handle.dataset().count_rows() == 5
    assert "2026-11-27T10.00.00.000Z" in handle.location
