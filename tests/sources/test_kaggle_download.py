"""A Kaggle download goes from the client's folder to the raw zone in pieces, never whole in memory."""

import gc
import hashlib
import json
import tracemalloc
from pathlib import Path

import pytest

from cripto_platform.datasets.lake import RawVersionsDataset
from cripto_platform.pipelines.ingestion import kaggle_nodes
from cripto_platform.sources.kaggle import DownloadedFile, KaggleConnector, KaggleDownloadError

FILE_MIB = 64
LINE = b"2024-01-01,BTCUSDT,42000.5,1.25,buy\n"


class ChunkWritingKaggleApi:
    """Writes a large CSV into ``path`` a MiB at a time (as the real client unzips), remembering its digest."""

    def __init__(self, name: str = "credit_risk_dataset.csv", mib: int = FILE_MIB):
        self.name, self.mib, self.sha256, self.size, self.folders = name, mib, None, 0, []

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False):
        self.folders.append(Path(path))
        digest, block = hashlib.sha256(), LINE * (1024 * 1024 // len(LINE))
        with open(Path(path) / self.name, "wb") as handle:
            handle.write(b"a,b,c,d,e\n")
            digest.update(b"a,b,c,d,e\n")
            for _ in range(self.mib):
                handle.write(block)
                digest.update(block)
        self.sha256, self.size = digest.hexdigest(), (Path(path) / self.name).stat().st_size


@pytest.fixture
def credit_risk_params():
    spec = {"enabled": True, "ref": "laotse/credit-risk-dataset", "version": 1, "files": ["credit_risk_dataset.csv"]}
    return {"source": "kaggle", "seed": 0, "datasets": {"credit_risk": spec}}


def test_a_download_reaches_the_raw_zone_without_being_read_whole(monkeypatch, tmp_path, credit_risk_params):
    api = ChunkWritingKaggleApi()
    monkeypatch.setattr(kaggle_nodes, "make_connector", lambda: KaggleConnector(api))
    raw_zone = RawVersionsDataset(path=str(tmp_path / "01_raw/kaggle"), dataset="cripto_platform.datasets.BytesDataset")

    tracemalloc.start()
    try:
        raw = kaggle_nodes.download_kaggle_datasets(credit_risk_params, "20240105")
        raw_zone.save(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    downloaded = raw["credit_risk/20240105/credit_risk_dataset.csv"]
    assert isinstance(downloaded, DownloadedFile)  # handed over on disk, not as bytes
    # Hashed and copied in 8 MiB pieces: Python's peak allocation is a couple of pieces, not the 64 MiB file.
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {FILE_MIB} MiB download"
    stored = tmp_path / "01_raw/kaggle/credit_risk/20240105/credit_risk_dataset.csv"
    assert stored.stat().st_size == api.size
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == api.sha256
    manifest = json.loads((stored.parent / "_manifest.json").read_bytes())
    assert manifest["files"]["credit_risk_dataset.csv"] == {"bytes": api.size, "sha256": api.sha256}

    del raw, downloaded
    gc.collect()
    assert not api.folders[0].exists()  # the temporary download folder goes with its last file


def test_a_blank_or_failed_download_leaves_no_temporary_folder(tmp_path):
    blank = ChunkWritingKaggleApi(mib=0)
    blank.dataset_download_files = lambda dataset, path=None, **kw: (  # noqa: E731
        blank.folders.append(Path(path)), (Path(path) / "credit_risk_dataset.csv").write_bytes(b" \n\n")
    )
    with pytest.raises(KaggleDownloadError, match=r"empty \['credit_risk_dataset.csv'\]"):
        KaggleConnector(blank).download("laotse/credit-risk-dataset", 1, ["credit_risk_dataset.csv"])
    assert not blank.folders[0].exists()


def test_a_download_is_copied_into_an_s3_raw_zone(monkeypatch, s3_bucket, credit_risk_params):
    """The cloud lake: the raw zone copies the file on disk to the bucket in pieces, byte for byte."""
    import s3fs

    api = ChunkWritingKaggleApi(mib=20)  # several 8 MiB pieces: a multipart upload
    monkeypatch.setattr(kaggle_nodes, "make_connector", lambda: KaggleConnector(api))
    raw_zone = RawVersionsDataset(path=f"s3://{s3_bucket}/01_raw/kaggle", dataset="cripto_platform.datasets.BytesDataset")
    raw_zone.save(kaggle_nodes.download_kaggle_datasets(credit_risk_params, "20240105"))

    stored = RawVersionsDataset(path=f"s3://{s3_bucket}/01_raw/kaggle", dataset="cripto_platform.datasets.BytesDataset")
    raw = stored.load()
    key = "credit_risk/20240105/credit_risk_dataset.csv"
    assert raw[key].size() == api.size
    assert hashlib.sha256(raw[key]()).hexdigest() == api.sha256
    listing = s3fs.S3FileSystem().find(f"{s3_bucket}/01_raw/kaggle")
    assert not [path for path in listing if ".staging-" in path]  # swapped in, nothing left behind
