"""Lake writes: a version rewrite replaces the raw folder as a whole; concurrent writers of one path."""

import multiprocessing

import pandas as pd

from cripto_platform.datasets import lake
from cripto_platform.datasets.lake import LakeTableDataset


def _write_many(path: str, writer: int, writes: int, errors, barrier) -> None:
    dataset = LakeTableDataset(path=path, table="t", partition_cols=["k"])
    for i in range(writes):
        frame = pd.DataFrame({"k": ["a", "b", "c"], "v": [writer * 1000 + i] * 3})
        barrier.wait(30)  # all writers start each write together: the swaps overlap
        try:
            dataset.save({"20240101": frame})
        except Exception as error:  # noqa: BLE001 - counted and reported by the parent
            errors.put(f"writer {writer} write {i}: {type(error).__name__}: {error}")


def test_four_processes_writing_one_version_leave_one_complete_version(tmp_path):
    context = multiprocessing.get_context("fork")
    errors, barrier = context.Queue(), context.Barrier(4)
    writers = [context.Process(target=_write_many, args=(str(tmp_path), n, 30, errors, barrier)) for n in (1, 2, 3, 4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert all(process.exitcode == 0 for process in writers)
    table = LakeTableDataset(path=str(tmp_path), table="t", partition_cols=["k"]).load()
    assert sorted(table["k"].astype(str)) == ["a", "b", "c"]  # one complete write, not a mix
    assert table["v"].nunique() == 1
    leftovers = [p.name for p in tmp_path.rglob("*") if "staging" in p.name or p.name.endswith(".previous")]
    assert leftovers == []
    assert sorted(p.name for p in (tmp_path / "20240101").iterdir()) == ["t"]


def test_rewriting_a_raw_version_drops_files_no_longer_in_the_source(tmp_path):
    raw = lake.RawVersionsDataset(path=str(tmp_path), dataset="cripto_platform.datasets.BytesDataset")
    raw.save({"20240105/ventas/ventas_202401.csv": b"a\n1\n", "20240105/ventas/ventas_202402.csv": b"a\n2\n",
              "20240104/ventas/ventas_202401.csv": b"a\n0\n"})
    raw.save({"20240105/ventas/ventas_202401.csv": b"a\n3\n"})  # the source lost ventas_202402.csv
    loaded = {key: load() for key, load in raw.load().items()}
    assert loaded == {"20240104/ventas/ventas_202401.csv": b"a\n0\n", "20240105/ventas/ventas_202401.csv": b"a\n3\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240104", "20240105"]  # no staging left


def test_kaggle_layout_versions_are_replaced_per_dataset(tmp_path):
    raw = lake.RawVersionsDataset(path=str(tmp_path), dataset="cripto_platform.datasets.BytesDataset")
    raw.save({"citesum/20240105/train.json": b"{}\n", "citesum/20240105/old.json": b"{}\n", "loans/20240105/a.csv": b"x\n"})
    raw.save({"citesum/20240105/train.json": b"{}\n"})
    assert sorted(raw.load()) == ["citesum/20240105/train.json", "loans/20240105/a.csv"]


def test_the_raw_zones_of_sales_and_kaggle_are_replaced_per_version():
    from pathlib import Path

    import yaml

    catalog = yaml.safe_load((Path(__file__).resolve().parents[3] / "conf/base/catalog_ingestion.yml").read_text())
    assert catalog["sales_raw"]["type"] == catalog["kaggle_raw"]["type"] == "cripto_platform.datasets.lake.RawVersionsDataset"
