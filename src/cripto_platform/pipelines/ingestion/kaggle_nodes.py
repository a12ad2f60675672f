"""Kaggle nodes: download (or generate) the raw files, then typed tables per dataset."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cripto_platform.pipelines.ingestion.common import log_quarantine
from cripto_platform.pipelines.ingestion.csv_quarantine import (
    QUARANTINE_COLUMNS,
    TypedCsvStream,
    check_schema,
    coerce_text,
    csv_options,
    empty_quarantine,
    typed_csv_stream,
)
from cripto_platform.sources.kaggle import (
    DownloadedFile,
    KaggleConnector,
    file_sha256,
    file_size,
    generate_kaggle_files,
    use_kaggle,
)

logger = logging.getLogger(__name__)


def make_connector() -> KaggleConnector:
    """The Kaggle connector (a seam for tests)."""
    return KaggleConnector()


def download_kaggle_datasets(params: dict[str, Any], version: str) -> dict[str, bytes | DownloadedFile]:
    """Raw files of every enabled dataset as ``{dataset}/{version}/{file}``, plus a ``_manifest.json`` each.

    Every download is validated before anything is returned, so a failed or partial download
    writes nothing and every earlier version stays as it was. Downloaded files are returned on disk
    (``DownloadedFile``), which the raw zone copies in pieces: memory does not grow with the file.
    """
    from_kaggle = use_kaggle(params["source"])
    connector = make_connector() if from_kaggle else None
    raw: dict[str, bytes | DownloadedFile] = {}
    for name, spec in params["datasets"].items():
        if not spec["enabled"]:
            continue
        if from_kaggle:
            files = connector.download(spec["ref"], spec["version"], spec["files"])
        else:
            files = generate_kaggle_files(spec["generator"], spec["sample"], params["seed"])
        manifest = {
            "dataset": name,
            "ref": spec["ref"],
            "kaggle_version": spec["version"],
            "origin": "kaggle" if from_kaggle else "generator",
            "files": {file: {"bytes": file_size(data), "sha256": file_sha256(data)} for file, data in files.items()},
        }
        raw.update({f"{name}/{version}/{file}": data for file, data in files.items()})
        raw[f"{name}/{version}/_manifest.json"] = json.dumps(manifest, indent=1).encode()
        logger.info(
            "kaggle %s (%s, version %s) from %s: %s",
            name, spec["ref"], spec["version"] or "latest", manifest["origin"],
            ", ".join(f"{file} {file_size(data):,} B" for file, data in files.items()),
        )
    return raw


def _raw_file(raw: dict[str, Callable[[], bytes]], key: str) -> bytes:
    if key not in raw:
        raise FileNotFoundError(f"raw file '{key}' not found in the raw zone (have {sorted(raw)[:10]})")
    data = raw[key]
    return data() if callable(data) else data


def _raw_source(raw: dict[str, Any], key: str) -> Any:
    """The raw file of ``key`` unread: a ``lake.RawFile`` (opened by the reader) from the raw zone, else its bytes."""
    if key not in raw:
        raise FileNotFoundError(f"raw file '{key}' not found in the raw zone (have {sorted(raw)[:10]})")
    data = raw[key]
    if callable(getattr(data, "open", None)):
        return data
    return data() if callable(data) else data


def csv_table_stream(raw: dict[str, Any], version: str, spec: dict[str, Any]) -> TypedCsvStream:
    """The raw CSV of ``version`` as a ``TypedCsvStream``: header and schema drift checked now, rows read when consumed."""
    key = f"{spec['dataset']}/{version}/{spec['file']}"
    return typed_csv_stream(
        _raw_source(raw, key),
        spec["columns"],
        key,
        delimiter=spec["delimiter"],
        date_format=spec["date_format"],
        tolerated_drift=spec["tolerated_drift"],
        chunk_bytes=int(spec["chunk_bytes"]),
        **csv_options(spec),
    )


def process_csv_table(
    raw: dict[str, Callable[[], bytes]], version: str, spec: dict[str, Any]
) -> tuple[dict[str, pa.Table], pd.DataFrame]:
    """One raw CSV of ``version`` as one typed table in memory; malformed lines go to the quarantine frame.

    The materialised reference of ``stream_csv_table`` (which the pipeline uses), for notebooks and tests.
    """
    stream = csv_table_stream(raw, version, spec)
    table = stream.read_all()
    quarantine = stream.quarantine
    log_quarantine(stream.dataset, table.num_rows, quarantine)
    return {version: table}, quarantine


def stream_csv_table(
    raw: dict[str, Any], version: str, spec: dict[str, Any]
) -> tuple[dict[str, TypedCsvStream], TypedCsvStream]:
    """One raw CSV of ``version`` as a lazy typed stream: ``{version: stream}`` for the lake table, which
    reads it while writing (bounded memory), and the same stream for ``collect_csv_quarantine``."""
    stream = csv_table_stream(raw, version, spec)
    return {version: stream}, stream


def collect_csv_quarantine(stream: TypedCsvStream) -> pd.DataFrame:
    """Once the table is written (its dataset read the stream to the end): the lines the stream quarantined."""
    if not stream.finished:
        raise RuntimeError(
            f"dataset '{stream.dataset}': the CSV stream was not read to the end, so its quarantine is incomplete; "
            "its table output must be saved to a dataset that writes streams (LakeTableDataset) before this node runs"
        )
    quarantine = stream.quarantine
    log_quarantine(stream.dataset, stream.rows, quarantine)
    return quarantine


def _read_json_lines(data: bytes, key: str) -> pd.DataFrame:
    """One row per JSON object line, with its physical line number (``_line``); a bad line fails naming it."""
    records, lines = [], []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{key}: line {number} is not valid JSON ({error.msg} at column {error.colno}); "
                "the file may be truncated or corrupted"
            ) from None
        if not isinstance(record, dict):
            raise ValueError(f"{key}: line {number} is not a JSON object (found {type(record).__name__})")
        records.append(record)
        lines.append(number)
    return pd.DataFrame.from_records(records).assign(_line=np.array(lines, dtype="int64"))


def _json_quarantine(rows: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """Quarantine rows of JSON-lines records: their file, line, reason and the record as JSON."""
    return pd.DataFrame(
        {
            "dataset": rows["_file"].to_numpy(),
            "line_number": rows["_line"].astype("int64").to_numpy(),
            "reason": reasons.to_numpy(),
            "raw_line": rows.drop(columns=["_file", "_line", "split"]).to_json(orient="records", lines=True).splitlines() if len(rows) else [],
        },
        columns=QUARANTINE_COLUMNS,
    )


def process_citesum(
    raw: dict[str, Callable[[], bytes]], version: str, spec: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, pd.DataFrame], pd.DataFrame]:
    """CiteSum JSON lines as related tables: papers (key ``paper_id``), summaries and paper_categories.

    A record without a key, with a repeated key, or with a value that does not parse (``published`` not
    a yyyy-mm-dd date, ``n_citations`` not a whole number in int64) is quarantined with its file, line
    and reason, never stored with the value nulled.
    """
    frames = []
    for file in spec["files"]:
        key = f"{spec['dataset']}/{version}/{file}"
        frame = _read_json_lines(_raw_file(raw, key), key)
        check_schema([c for c in frame.columns if c != "_line"], spec["fields"], key, spec["tolerated_drift"])
        frames.append(frame.assign(split=file.rsplit(".", 1)[0], _file=key))
    papers = pd.concat(frames, ignore_index=True)
    key_text = papers["paper_id"].astype("string").str.strip()
    no_key = key_text.isna() | key_text.eq("")
    duplicated = ~no_key & key_text.duplicated(keep="first")
    # Where each key is first seen (only its file and line: the frame holds every abstract).
    keyed_at = papers.loc[~no_key, ["_file", "_line"]].set_axis(key_text[~no_key])
    first_line = keyed_at[~keyed_at.index.duplicated(keep="first")]
    published, bad_published, _ = coerce_text(papers["published"].astype("string"), "date", "%Y-%m-%d")
    citations = papers["n_citations"] if "n_citations" in papers else pd.Series(pd.NA, index=papers.index, dtype="object")
    citations, bad_citations, _ = coerce_text(citations.astype("string"), "int64", None)
    keyed = ~no_key & ~duplicated
    bad_published &= keyed
    bad_citations &= keyed & ~bad_published
    quarantine = pd.concat(
        [
            empty_quarantine(),
            _json_quarantine(papers[no_key], pd.Series("paper_id is missing or null", index=papers.index[no_key])),
            _json_quarantine(
                papers[duplicated],
                "duplicate paper_id " + key_text[duplicated]
                + " (first in " + key_text[duplicated].map(first_line["_file"]) + " line "
                + key_text[duplicated].map(first_line["_line"]).astype(str) + ")",
            ),
            _json_quarantine(
                papers[bad_published],
                "published " + papers.loc[bad_published, "published"].astype(str) + " is not a yyyy-mm-dd date",
            ),
            _json_quarantine(
                papers[bad_citations],
                "n_citations " + papers.loc[bad_citations, "n_citations"].astype(str) + " is not a whole number in int64",
            ),
        ],
        ignore_index=True,
    )
    kept = keyed & ~bad_published & ~bad_citations
    if len(quarantine):
        log_quarantine("citesum", int(kept.sum()), quarantine)
    papers = papers.loc[kept].drop(columns=["_file", "_line"])
    categories = papers["categories"].fillna("").str.split()
    papers = papers.assign(
        paper_id=papers["paper_id"].astype("str"),
        published=published[kept].dt.date,
        primary_category=categories.str[0],
        n_citations=citations[kept],
    )
    paper_table = papers[["paper_id", "title", "abstract", "published", "primary_category", "n_citations", "split"]]
    summaries = pd.DataFrame(
        {
            "summary_id": papers["paper_id"] + "#1",
            "paper_id": papers["paper_id"],
            "summary": papers["summary"],
            "summary_words": papers["summary"].fillna("").str.split().str.len().astype("int64"),
            "split": papers["split"],
        }
    )
    exploded = pd.DataFrame({"paper_id": papers["paper_id"], "category": categories, "split": papers["split"]}).explode("category")
    exploded = exploded.dropna(subset=["category"])
    exploded = exploded.assign(is_primary=~exploded.duplicated(subset=["paper_id"], keep="first"))
    paper_categories = exploded.drop_duplicates(["paper_id", "category"]).reset_index(drop=True)
    logger.info(
        "citesum %s: %d papers, %d summaries, %d paper-category links, %d records quarantined",
        version, len(paper_table), len(summaries), len(paper_categories), len(quarantine),
    )
    return (
        {version: paper_table.reset_index(drop=True)},
        {version: summaries.reset_index(drop=True)},
        {version: paper_categories[["paper_id", "category", "is_primary", "split"]]},
        quarantine,
    )


CITESUM_TABLES = ("kaggle_citesum_papers", "kaggle_citesum_summaries", "kaggle_citesum_paper_categories")
