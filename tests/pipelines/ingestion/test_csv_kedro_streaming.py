"""Issue 12 item 12: the Kedro path of a Kaggle CSV streams (raw file opened lazily, table written batch by batch).

The credit-risk nodes of the ingestion pipeline run with ``SequentialRunner`` on a catalog of the real
dataset types (raw zone ``RawVersionsDataset``, ``LakeTableDataset``, a parquet quarantine, the written
marker) over a CSV of about 80 MB: the process's peak Arrow memory stays far below the file size, and
what is written equals the materialised reference (``process_csv_table``).
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
import yaml

from cripto_platform.pipelines.ingestion import kaggle_nodes
from cripto_platform.sources.kaggle import generate_credit_risk_csv

VERSION = "20240105"
PARAMS_FILE = Path(__file__).resolve().parents[3] / "conf/base/parameters_ingestion.yml"

RUN = textwrap.dedent(
    """
    import json, sys
    import pyarrow as pa
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import ParquetDataset
    from cripto_platform.datasets.lake import LakeTableDataset, RawVersionsDataset
    from cripto_platform.pipelines.ingestion import create_pipeline

    root, version, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    catalog = DataCatalog({
        "kaggle_raw": RawVersionsDataset(path=f"{root}/01_raw/kaggle", dataset="cripto_platform.datasets.BytesDataset"),
        "ingestion_version": MemoryDataset(version),
        "params:ingestion.kaggle.datasets.credit_risk": MemoryDataset(spec),
        "kaggle_credit_risk": LakeTableDataset(path=f"{root}/03_primary/kaggle/credit_risk", table="loans",
                                               partition_cols=["loan_intent"]),
        "credit_risk_quarantine": ParquetDataset(filepath=f"{root}/quarantine/credit_risk.parquet"),
    })
    pipeline = create_pipeline().only_nodes_with_namespaces(["credit_risk"])
    SequentialRunner().run(pipeline, catalog)
    print(json.dumps({"nodes": sorted(node.name for node in pipeline.nodes), "peak": pa.default_memory_pool().max_memory()}))
    """
)


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(PARAMS_FILE.read_text())["ingestion"]["kaggle"]["datasets"]["credit_risk"]


def _sorted(table: pa.Table, columns: list[str]) -> pa.Table:
    table = table.select(columns)
    table = table.set_column(columns.index("loan_intent"), "loan_intent", pc.cast(table.column("loan_intent"), pa.string()))
    return table.sort_by([(name, "ascending") for name in columns])


def _write_csv(root: Path, file: str, body_copies: int) -> Path:
    header, body = generate_credit_risk_csv(100_000, malformed_rows=6).split(b"\n", 1)
    raw_file = root / "01_raw/kaggle/credit_risk" / VERSION / file
    raw_file.parent.mkdir(parents=True)
    with open(raw_file, "wb") as handle:
        handle.write(header + b"\n")
        for _ in range(body_copies):
            handle.write(body)
    return raw_file


def _run(root: Path, spec: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", RUN, str(root), VERSION, json.dumps(spec)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kaggle_csv_node_and_lake_dataset_stream_in_bounded_memory(tmp_path, spec):
    # 2 MiB chunks (the parameter chunk_bytes; 8 MiB by default) so that a file
    # of a size a test can write is many times the bounded peak.
    spec = {**spec, "chunk_bytes": 2 * 1024 * 1024}
    raw_file = _write_csv(tmp_path / "lake", spec["file"], 14)
    size = raw_file.stat().st_size
    assert 70 * 1024 * 1024 < size < 100 * 1024 * 1024
    result = _run(tmp_path / "lake", spec)
    assert result["nodes"] == ["credit_risk.collect_csv_quarantine", "credit_risk.stream_csv_table"]
    # Streaming holds a few chunks of lines, their typed batches and each partition's rows until they
    # make a row group (lake.MIN_ROWS_PER_GROUP): that peak does not grow with the file. A file half
    # the size, already past the point where every partition buffers a whole group, peaks as high.
    half = _write_csv(tmp_path / "half", spec["file"], 7)
    half_peak = _run(tmp_path / "half", spec)["peak"]
    assert result["peak"] < 1.2 * half_peak, (result["peak"], half_peak, half.stat().st_size)

    # The same rows, types and quarantine as the materialised reference.
    key = f"credit_risk/{VERSION}/{spec['file']}"
    processed, expected_quarantine = kaggle_nodes.process_csv_table({key: raw_file.read_bytes}, VERSION, spec)
    expected = processed[VERSION]
    # Materialising the table (what the node returned before) takes more Arrow memory than streaming it.
    assert result["peak"] < 0.75 * expected.nbytes, (result["peak"], expected.nbytes, size)
    written = ds.dataset(
        str(tmp_path / "lake/03_primary/kaggle/credit_risk" / VERSION / "loans"), format="parquet", partitioning="hive"
    ).to_table()
    assert written.num_rows == expected.num_rows == 14 * (100_000 - 6)
    for field in expected.schema:
        if field.name != "loan_intent":  # the partition column comes back from the folder names
            assert written.schema.field(field.name).type == field.type, field.name
    assert _sorted(written, expected.column_names).equals(_sorted(expected, expected.column_names))

    quarantine = pd.read_parquet(tmp_path / "lake/quarantine/credit_risk.parquet")
    assert len(quarantine) == 14 * 6
    assert quarantine["line_number"].tolist() == expected_quarantine["line_number"].tolist()
    assert quarantine["reason"].tolist() == expected_quarantine["reason"].tolist()
    assert quarantine["raw_line"].tolist() == expected_quarantine["raw_line"].tolist()


def test_raw_zone_hands_lazy_files_and_the_lake_table_saves_a_stream(tmp_path, spec):
    import copy
    import pickle

    from cripto_platform.datasets.lake import LakeTableDataset, RawFile, RawVersionsDataset

    key = f"credit_risk/{VERSION}/{spec['file']}"
    data = generate_credit_risk_csv(500, malformed_rows=2)
    raw_zone = RawVersionsDataset(path=str(tmp_path / "raw"), dataset="cripto_platform.datasets.BytesDataset")
    raw_zone.save({key: data})
    raw = raw_zone.load()
    assert isinstance(raw[key], RawFile) and raw[key]() == data and raw[key].size() == len(data)
    with raw[key].open() as handle:
        assert handle.readline(10) == data[:10]

    (table_data, stream) = kaggle_nodes.stream_csv_table(raw, VERSION, spec)
    assert table_data[VERSION] is stream and stream.rows == 0  # nothing read yet
    assert copy.deepcopy(stream) is stream  # MemoryDataset's copy hands on the same stream
    with pytest.raises(TypeError, match="pickled only once read to the end"):
        pickle.dumps(stream)
    with pytest.raises(RuntimeError, match="not read to the end.*LakeTableDataset"):
        kaggle_nodes.collect_csv_quarantine(stream)

    table = LakeTableDataset(path=str(tmp_path / "primary"), table="loans", partition_cols=["loan_intent"])
    table.save(table_data)
    quarantine = kaggle_nodes.collect_csv_quarantine(pickle.loads(pickle.dumps(stream)))
    assert stream.rows == 498 and stream.shape[0] == 498
    assert len(table.load()) == 498 and len(quarantine) == 2 and (quarantine["line_number"] >= 2).all()
