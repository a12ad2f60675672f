"""Kaggle datasets: a connector over the ``kaggle`` package and seeded generators of the same files.

The connector uses Kaggle's standard credentials (``KAGGLE_USERNAME``/``KAGGLE_KEY`` or
``~/.kaggle/kaggle.json``, or ``$KAGGLE_CONFIG_DIR/kaggle.json``). Without them the generators write
files with the real datasets' names, columns and formats:

- ``laotse/credit-risk-dataset``: ``credit_risk_dataset.csv``
- ``wkirgsn/electric-motor-temperature``: ``measures_v2.csv`` (time series keyed by ``profile_id``)
- ``nbroad/cite-sum``: ``train.json``, ``validation.json``, ``test.json`` (JSON lines, one paper each)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CREDIT_RISK_COLUMNS = [
    "person_age", "person_income", "person_home_ownership", "person_emp_length", "loan_intent",
    "loan_grade", "loan_amnt", "loan_int_rate", "loan_status", "loan_percent_income",
    "cb_person_default_on_file", "cb_person_cred_hist_length",
]
MOTOR_COLUMNS = [
    "u_q", "coolant", "stator_winding", "u_d", "stator_tooth", "motor_speed", "i_d", "i_q", "pm",
    "stator_yoke", "ambient", "torque", "profile_id",
]
CATEGORIES = np.array(["cs.CL", "cs.LG", "cs.CV", "cs.AI", "stat.ML", "cs.IR", "cs.RO", "math.OC"])
WORDS = np.array(
    "model data learning neural network language graph training method results task performance "
    "attention transformer robust efficient dataset benchmark representation optimisation".split()
)


class KaggleDownloadError(RuntimeError):
    """A Kaggle download failed or is incomplete; nothing downstream is written."""


def kaggle_credentials_configured(environ: dict[str, str] | None = None) -> bool:
    """True when Kaggle's standard credentials are present (environment or kaggle.json)."""
    environ = os.environ if environ is None else environ
    if environ.get("KAGGLE_USERNAME") and environ.get("KAGGLE_KEY"):
        return True
    config_dir = Path(environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    return (config_dir / "kaggle.json").is_file()


def use_kaggle(source: str) -> bool:
    """Whether parameter ``ingestion.kaggle.source`` (auto | kaggle | generator) means downloading from Kaggle."""
    if source not in ("auto", "kaggle", "generator"):
        raise ValueError(f"parameter ingestion.kaggle.source must be auto, kaggle or generator, got '{source}'")
    return source == "kaggle" or (source == "auto" and kaggle_credentials_configured())


class DownloadedFile:
    """One downloaded file, left on disk: ``open()`` streams it, ``size()`` and ``sha256()`` read it in
    pieces, and calling it returns its bytes (what a raw-zone loader returns).

    It keeps the download's temporary folder alive: the folder is removed once the last file of the
    download is dropped (after the raw zone has copied them), so a file larger than memory goes from
    Kaggle to the lake without being read whole.
    """

    CHUNK_BYTES = 8 * 1024 * 1024

    def __init__(self, path: Path, folder: tempfile.TemporaryDirectory) -> None:
        self.path, self._folder = Path(path), folder

    def open(self) -> IO[bytes]:
        return open(self.path, "rb")

    def size(self) -> int:
        return self.path.stat().st_size

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.open() as handle:
            for chunk in iter(lambda: handle.read(self.CHUNK_BYTES), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def is_blank(self) -> bool:
        """Empty or only whitespace (a file over 1 MiB is never taken for blank)."""
        with self.open() as handle:
            head = handle.read(1024 * 1024 + 1)
        return len(head) <= 1024 * 1024 and not head.strip()

    def __call__(self) -> bytes:
        return self.path.read_bytes()

    def __repr__(self) -> str:
        return f"DownloadedFile({str(self.path)!r})"


def file_size(data: bytes | DownloadedFile) -> int:
    return data.size() if isinstance(data, DownloadedFile) else len(data)


def file_sha256(data: bytes | DownloadedFile) -> str:
    return data.sha256() if isinstance(data, DownloadedFile) else hashlib.sha256(data).hexdigest()


class KaggleConnector:
    """Downloads one version of a Kaggle dataset and returns its files, validated and left on disk.

    ``api`` is anything with ``dataset_download_files(dataset, path=, unzip=, quiet=, force=)``;
    by default ``kaggle.api.kaggle_api_extended.KaggleApi``, authenticated on first use.
    """

    def __init__(self, api: Any | None = None) -> None:
        self._api = api

    @property
    def api(self) -> Any:
        if self._api is None:
            from kaggle.api.kaggle_api_extended import KaggleApi  # lazy: importing kaggle reads credentials

            api = KaggleApi()
            api.authenticate()
            self._api = api
        return self._api

    def download(self, ref: str, version: int | None, expected_files: list[str]) -> dict[str, DownloadedFile]:
        """``{file name: DownloadedFile}`` of ``ref`` at ``version`` (latest when None), all expected files
        present. The files stay in a temporary folder (under ``$TMPDIR``) until the last one is dropped."""
        handle = f"{ref}/{int(version)}" if version else ref
        folder = tempfile.TemporaryDirectory(prefix="kaggle-")
        try:
            self.api.dataset_download_files(handle, path=folder.name, unzip=True, quiet=True, force=True)
        except (Exception, SystemExit) as error:
            folder.cleanup()
            raise KaggleDownloadError(f"Kaggle download of '{handle}' failed: {error}") from error
        root = Path(folder.name)
        files = {
            path.relative_to(root).as_posix(): DownloadedFile(path, folder)
            for path in sorted(root.rglob("*"))
            if path.is_file() and not path.name.endswith(".zip")
        }
        try:
            return validate_download(handle, files, expected_files)
        except KaggleDownloadError:
            folder.cleanup()
            raise


def _is_blank(data: bytes | DownloadedFile) -> bool:
    return data.is_blank() if isinstance(data, DownloadedFile) else not data.strip()


def validate_download(
    handle: str, files: dict[str, bytes | DownloadedFile], expected_files: list[str]
) -> dict[str, bytes | DownloadedFile]:
    """Raise ``KaggleDownloadError`` when an expected file is missing or empty; return the expected files."""
    missing = [name for name in expected_files if name not in files]
    empty = [name for name in expected_files if name in files and _is_blank(files[name])]
    if missing or empty:
        raise KaggleDownloadError(
            f"Kaggle download of '{handle}' is incomplete: missing {missing or 'none'}, empty {empty or 'none'} "
            f"(received: {sorted(files) or 'nothing'}); the previous processed version is kept"
        )
    return {name: files[name] for name in expected_files}


def _inject_malformed(text: str, n_malformed: int, rng: np.random.Generator) -> str:
    """Replace ``n_malformed`` data lines with a truncated line or an unparseable number."""
    if n_malformed <= 0:
        return text
    lines = text.split("\n")
    picks = rng.choice(np.arange(1, len(lines) - 1), size=min(n_malformed, len(lines) - 2), replace=False)
    for i, line_index in enumerate(sorted(picks)):  # a handful of lines, not the data
        fields = lines[line_index].split(",")
        if i % 2 == 0:
            lines[line_index] = ",".join(fields[: len(fields) // 2])
        else:
            fields[0] = "n/a?"
            lines[line_index] = ",".join(fields)
    return "\n".join(lines)


def generate_credit_risk_csv(n_rows: int, seed: int = 3, malformed_rows: int = 0) -> bytes:
    """``credit_risk_dataset.csv`` with the Kaggle columns, missing values where the real file has them."""
    rng = np.random.default_rng(seed)
    n = int(n_rows)
    income = np.round(rng.lognormal(10.9, 0.5, n)).astype("int64")
    amount = (np.round(rng.lognormal(8.9, 0.6, n) / 25) * 25).astype("int64")
    grade = rng.choice(list("ABCDEFG"), n, p=[0.33, 0.32, 0.2, 0.1, 0.03, 0.015, 0.005])
    rate = np.round(6 + (np.frombuffer(grade.astype("S1").tobytes(), "u1") - 65) * 2.7 + rng.normal(0, 1, n), 2)
    frame = pd.DataFrame(
        {
            "person_age": rng.integers(20, 70, n),
            "person_income": income,
            "person_home_ownership": rng.choice(["RENT", "MORTGAGE", "OWN", "OTHER"], n, p=[0.5, 0.41, 0.08, 0.01]),
            "person_emp_length": np.where(rng.random(n) < 0.03, np.nan, rng.integers(0, 30, n).astype(float)),
            "loan_intent": rng.choice(
                ["EDUCATION", "MEDICAL", "VENTURE", "PERSONAL", "DEBTCONSOLIDATION", "HOMEIMPROVEMENT"], n
            ),
            "loan_grade": grade,
            "loan_amnt": amount,
            "loan_int_rate": np.where(rng.random(n) < 0.1, np.nan, rate),
            "loan_status": (rng.random(n) < 0.12 + 0.05 * (grade > "C")).astype("int64"),
            "loan_percent_income": np.round(amount / np.maximum(income, 1), 2),
            "cb_person_default_on_file": rng.choice(["N", "Y"], n, p=[0.82, 0.18]),
            "cb_person_cred_hist_length": rng.integers(2, 30, n),
        },
        columns=CREDIT_RISK_COLUMNS,
    )
    text = frame.to_csv(index=False, float_format="%.2f")
    return _inject_malformed(text, malformed_rows, rng).encode("utf-8")


def generate_motor_temperature_csv(n_profiles: int, rows_per_profile: int, seed: int = 4) -> bytes:
    """``measures_v2.csv``: 2 Hz sensor series per ``profile_id`` with the Kaggle columns."""
    rng = np.random.default_rng(seed)
    profiles = np.repeat(np.arange(2, 2 + int(n_profiles)) * 2, int(rows_per_profile))
    n = len(profiles)
    t = np.tile(np.arange(int(rows_per_profile)), int(n_profiles)) / 2.0
    speed = np.abs(2000 * np.sin(t / 300 + profiles) + rng.normal(0, 50, n))
    i_q = 50 * np.sin(t / 200 + profiles) + rng.normal(0, 2, n)
    heat = np.cumsum(np.abs(i_q) * 1e-3 + rng.normal(0, 1e-3, n))
    frame = pd.DataFrame(
        {
            "u_q": 40 + speed / 50 + rng.normal(0, 1, n),
            "coolant": 18 + rng.normal(0, 0.5, n),
            "stator_winding": 25 + heat % 80,
            "u_d": -speed / 30 + rng.normal(0, 1, n),
            "stator_tooth": 24 + heat % 70,
            "motor_speed": speed,
            "i_d": -np.abs(i_q) / 2,
            "i_q": i_q,
            "pm": 24 + heat % 60,
            "stator_yoke": 22 + heat % 50,
            "ambient": 19 + rng.normal(0, 0.3, n),
            "torque": i_q * 0.9 + rng.normal(0, 0.5, n),
            "profile_id": profiles,
        },
        columns=MOTOR_COLUMNS,
    )
    return frame.to_csv(index=False, float_format="%.6f").encode("utf-8")


def generate_citesum_json(n_papers: int, seed: int = 5) -> dict[str, bytes]:
    """CiteSum as JSON lines split into ``train.json``/``validation.json``/``test.json``."""
    rng = np.random.default_rng(seed)
    n = int(n_papers)
    text = pd.Series(rng.choice(WORDS, (n, 40)).tolist()).str.join(" ")
    primary = rng.choice(CATEGORIES, n)
    extra = rng.choice(CATEGORIES, n)
    categories = np.where(primary == extra, primary, np.char.add(np.char.add(primary, " "), extra))
    published = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    ids = pd.Series(published.strftime("%y%m")) + "." + pd.Series(np.arange(n) + 10000).astype(str).str.zfill(5)
    frame = pd.DataFrame(
        {
            "paper_id": ids,
            "title": text.str.split().str[: 6].str.join(" ").str.capitalize(),
            "abstract": text,
            "summary": text.str.split().str[: 15].str.join(" ") + ".",
            "categories": categories,
            "published": published.strftime("%Y-%m-%d"),
            "n_citations": rng.poisson(12, n),
            "split": rng.choice(["train", "validation", "test"], n, p=[0.8, 0.1, 0.1]),
        }
    )
    return {
        f"{split}.json": part.drop(columns="split").to_json(orient="records", lines=True).encode("utf-8")
        for split, part in frame.groupby("split", sort=True)
    }


def generate_kaggle_files(dataset: str, sample: dict[str, Any], seed: int) -> dict[str, bytes]:
    """The generated files of one configured dataset, by its ``generator`` name."""
    generators = {
        "credit_risk": lambda: {
            "credit_risk_dataset.csv": generate_credit_risk_csv(
                sample["n_rows"], seed, sample["malformed_rows"]
            )
        },
        "motor_temperature": lambda: {
            "measures_v2.csv": generate_motor_temperature_csv(
                sample["n_profiles"], sample["rows_per_profile"], seed
            )
        },
        "citesum": lambda: generate_citesum_json(sample["n_papers"], seed),
    }
    if dataset not in generators:
        raise ValueError(f"no sample generator for Kaggle dataset '{dataset}' (have {sorted(generators)})")
    return generators[dataset]()
