"""Payments nodes (seed 002's two DAGs): bucket check, companies, watermark window, batch, SCD2, index.

Nodes are pure functions on DataFrames and dicts; the warehouse and the bucket are reached through
catalog datasets (``cripto_platform.datasets.payments``). The two ``fetch_*`` nodes are the source
boundary: the seeded generator by default, the seed's HTTP API when ``payments.source.kind: api``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cripto_platform.datasets.payments import COMPARED, KEY, MISSING_KEYS, PAYMENT_COLUMNS
from cripto_platform.run_metadata import stamp_run
from cripto_platform.sources.payments import COMPANY_COLUMNS as RAW_COMPANY_COLUMNS
from cripto_platform.sources.payments import PAYMENT_COLUMNS as RAW_PAYMENT_COLUMNS
from cripto_platform.sources.payments import generate_companies, generate_payments

logger = logging.getLogger(__name__)

BATCH_DATASET = "payments_batch_raw"
INDEX_COLUMNS = [
    "payment_id", "company_code", "external_client_id", "status", "amount",
    "payment_at", "created_at", "updated_at",
]


# ------------------------------------------------------------------ bucket


MAX_CENTS = 10**14  # payments_l0.amount is numeric(14, 2): fewer than 10^14 cents


def check_landing_bucket(status: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The landing bucket's creation request: fails naming it when missing and creation is not allowed."""
    if status["exists"]:
        logger.info("landing bucket '%s' exists", status["bucket"])
        return {"create": False, **status}
    if not params.get("create_bucket_if_missing", False):
        raise ValueError(
            f"landing bucket '{status['bucket']}' does not exist and "
            "payments.landing.create_bucket_if_missing is false; create the bucket or allow it"
        )
    logger.info("landing bucket '%s' is missing; it will be created", status["bucket"])
    return {"create": True, **status}


# ------------------------------------------------------------------ sources


CLIENT_OPTIONS = ("page_size", "timeout_seconds", "max_retries", "backoff_seconds")


def _api_client(source: dict[str, Any], api: dict[str, Any] | None):
    from cripto_platform.sources.payments_api import PaymentsApiClient

    base_url = source.get("base_url") or (api or {}).get("base_url")
    if not base_url:
        raise ValueError(
            "payments.source.kind is 'api' but no base URL: set payments.source.base_url or the "
            "payments_api.base_url credential (CRIPTO_PAYMENTS_API_URL)"
        )
    # Only the options the parameters set: the client's own defaults are the one fallback.
    options = {name: source[name] for name in CLIENT_OPTIONS if source.get(name) is not None}
    return PaymentsApiClient(base_url, **options)


def _source_kind(source: dict[str, Any]) -> str:
    kind = source.get("kind", "generator")
    if kind not in ("generator", "api"):
        raise ValueError(f"parameter payments.source.kind must be 'generator' or 'api', got {kind!r}")
    return kind


def _as_text(records, columns: list[str]) -> pd.DataFrame:
    """Rows as received, every column as text (parsing is validation's job)."""
    frame = pd.DataFrame.from_records(records, columns=columns) if not isinstance(records, pd.DataFrame) else records
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"source rows lack columns {missing}; expected {columns}")
    text = pd.DataFrame(index=frame.index)
    for column in columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values):  # JSON ints with nulls arrive as floats
            present = values.dropna()
            if present.eq(present.round()).all():
                values = values.astype("Int64")
        text[column] = values.astype("string")
    return text.reset_index(drop=True)


def fetch_companies(source: dict[str, Any], sample: dict[str, Any], api: dict[str, Any] | None = None) -> pd.DataFrame:
    """Every company, as text: from the seeded generator or from ``GET /companies``."""
    if _source_kind(source) == "api":
        records = _api_client(source, api).fetch_companies()
    else:
        records = generate_companies(sample["n_companies"], sample["seed"], sample["origin"])
    return _as_text(records, RAW_COMPANY_COLUMNS)


def fetch_payments_batch(
    window: dict[str, Any], source: dict[str, Any], sample: dict[str, Any], api: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Payments updated in the window, as text: generator, or ``GET /payments?updated_at=`` (all pages)."""
    if _source_kind(source) == "api":
        records = _api_client(source, api).fetch_payments(window["since"])
        frame = _as_text(records, RAW_PAYMENT_COLUMNS)
    else:
        frame = _as_text(generate_payments(window["since"], window["until"], **sample), RAW_PAYMENT_COLUMNS)
    logger.info("fetched %d payment rows updated in (%s, %s]", len(frame), window["since"], window["until"])
    return frame


# ------------------------------------------------------------------ companies


def prepare_companies(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed companies, one per code (latest ``updated_at``); a company without code is an error."""
    no_code = raw["company_code"].isna() | (raw["company_code"].str.strip() == "")
    if no_code.any():
        raise ValueError(
            f"dataset 'companies_raw': column company_code is empty at row(s) {np.flatnonzero(no_code)[:5].tolist()}; "
            "every company needs a code"
        )
    companies = pd.DataFrame(
        {
            "company_code": raw["company_code"].str.strip(),
            "company_id": pd.to_numeric(raw["id"], errors="coerce").astype("Int64"),
            "name": raw["name"],
            "category": raw["category"],
            "created_at": pd.to_datetime(raw["created_at"], utc=True, errors="coerce", format="ISO8601"),
            "updated_at": pd.to_datetime(raw["updated_at"], utc=True, errors="coerce", format="ISO8601"),
        }
    )
    companies = companies.sort_values(["company_code", "updated_at"], na_position="first", kind="stable")
    return companies.drop_duplicates("company_code", keep="last").reset_index(drop=True)


# ------------------------------------------------------------------ watermark window


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def compute_payments_window(
    watermark: dict[str, Any], params: dict[str, Any], run_metadata: dict[str, str]
) -> dict[str, Any]:
    """The ``(since, until]`` window to read: from the watermark, or ``lookback_days`` back; a future watermark fails."""
    until = _utc(params.get("process_time") or run_metadata["started_at"])
    lookback = float(params.get("watermark", {}).get("lookback_days", 30))
    if watermark.get("last_update"):
        since = _utc(watermark["last_update"])
        if since > until:
            raise ValueError(
                f"watermark '{watermark['name']}' in table '{watermark.get('table', 'etl_watermarks')}' is "
                f"{since.isoformat()}, after the process time {until.isoformat()}: refusing to read payments "
                "from the future; fix the control table row"
            )
        origin = "watermark"
    else:
        since = until - pd.Timedelta(days=lookback)
        origin = f"no watermark: lookback of {lookback:g} days"
    window = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "process_date": until.strftime("%Y-%m-%d"),
        "effective_at": until.isoformat(),
        "batch_id": f"{since.isoformat()}/{until.isoformat()}",
        "origin": origin,
    }
    logger.info("payments window (%s, %s] (%s)", window["since"], window["until"], origin)
    return window


# ------------------------------------------------------------------ landing


def land_payments_batch(
    raw: pd.DataFrame, window: dict[str, Any], landing_bucket: dict[str, Any], run_metadata: dict[str, str]
) -> dict[str, pd.DataFrame]:
    """The raw batch as one parquet partition under ``process_date=<date>/``, named by run."""
    if not landing_bucket.get("exists"):
        raise ValueError(f"landing bucket '{landing_bucket.get('bucket')}' does not exist")
    return {f"process_date={window['process_date']}/payments_{run_metadata['run_id']}": raw}


# ------------------------------------------------------------------ validation


def validate_payments_batch(raw: pd.DataFrame, companies: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed payments, and rows with a null key, an unparseable value or an unknown company with a reason."""
    missing = [column for column in RAW_PAYMENT_COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(f"dataset '{BATCH_DATASET}' lacks columns {missing}; expected {RAW_PAYMENT_COLUMNS}")
    text = raw.astype("string")
    typed = pd.DataFrame(index=raw.index)
    typed["id"] = pd.to_numeric(text["id"], errors="coerce")
    payment_id = pd.to_numeric(text["payment_id"], errors="coerce")
    typed["payment_id"] = payment_id.where(payment_id.notna() & (payment_id == payment_id.round()))
    typed["company_code"] = text["company_code"].str.strip().replace("", pd.NA)
    typed["external_client_id"] = text["external_client_id"]
    typed["status"] = text["status"]
    typed["amount"] = pd.to_numeric(text["amount"], errors="coerce")
    for column in ("payment_at", "created_at", "updated_at"):
        typed[column] = pd.to_datetime(text[column], utc=True, errors="coerce", format="ISO8601")

    def unparseable(column: str) -> pd.Series:
        return text[column].notna() & typed[column].isna()

    checks = {
        "null key payment_id": text["payment_id"].isna(),
        "unparseable payment_id": unparseable("payment_id"),
        "null key company_code": typed["company_code"].isna(),
        "unparseable amount": unparseable("amount"),
        "amount out of range": typed["amount"].notna() & ~((typed["amount"].abs() * 100).round() < MAX_CENTS),
        "unparseable payment_at": unparseable("payment_at"),
        "unparseable created_at": unparseable("created_at"),
        "missing or unparseable updated_at": typed["updated_at"].isna(),
        "unknown company_code": typed["company_code"].notna()
        & ~typed["company_code"].isin(companies["company_code"]),
    }
    reasons = pd.Series("", index=raw.index, dtype="object")
    for reason, mask in checks.items():
        mask = mask.fillna(False).astype(bool).to_numpy()
        reasons[mask] = np.where(reasons[mask] == "", reason, reasons[mask] + "; " + reason)
    bad = (reasons != "").to_numpy()
    quarantine = raw.loc[bad].copy()
    quarantine["quarantine_reason"] = reasons[bad].astype("string")
    if bad.any():
        logger.warning(
            "quarantined %d of %d payment rows from '%s': %s",
            int(bad.sum()), len(raw), BATCH_DATASET, quarantine["quarantine_reason"].value_counts().to_dict(),
        )
    valid = typed.loc[~bad].copy()
    valid["payment_id"] = valid["payment_id"].astype("int64")
    valid["id"] = valid["id"].astype("Int64")
    return valid.reset_index(drop=True), quarantine.reset_index(drop=True)


def stamp_payments_quarantine(quarantine: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """Quarantined payment rows stamped with the run that set them aside."""
    return stamp_run(quarantine, run_metadata)


def deduplicate_payments(valid: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per key: the latest ``updated_at`` wins, then the highest source ``id``, then the values."""
    order = KEY + ["updated_at", "id"] + COMPARED + ["created_at"]
    ranked = valid.sort_values(order, na_position="first", kind="stable")
    winners = ranked.drop_duplicates(KEY, keep="last")
    duplicates = len(valid) - len(winners)
    if duplicates:
        logger.info("resolved %d duplicate payment rows inside the batch (latest updated_at wins)", duplicates)
    return winners[PAYMENT_COLUMNS].reset_index(drop=True), int(duplicates)


# ------------------------------------------------------------------ merge


def build_payments_merge(
    batch: pd.DataFrame,
    window: dict[str, Any],
    params: dict[str, Any],
    run_metadata: dict[str, str],
    quarantine: pd.DataFrame,
    duplicates: int,
) -> dict[str, Any]:
    """The merge request saved to ``payments_l0@scd2``: rows, effective time, new watermark, counts."""
    missing_keys = params.get("missing_keys", "ignore")
    if missing_keys not in MISSING_KEYS:
        raise ValueError(f"parameter payments.merge.missing_keys must be one of {MISSING_KEYS}, got {missing_keys!r}")
    return {
        "rows": batch,
        "batch_id": window["batch_id"],
        "run_id": run_metadata["run_id"],
        "effective_at": window["effective_at"],
        "watermark": window["until"],
        "missing_keys": missing_keys,
        "duplicates": int(duplicates),
        "quarantined": len(quarantine),
    }


def report_payments_merge(merge_log: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """This run's merge counts (inserted, closed, unchanged, duplicates, quarantined) from the merge log."""
    mine = merge_log[merge_log["run_id"] == run_metadata["run_id"]]
    if mine.empty:
        raise ValueError(f"dataset 'payments_l0@scd2': no merge logged for run_id {run_metadata['run_id']}")
    report = mine.tail(1).reset_index(drop=True)
    return report.assign(run_started_at=run_metadata["started_at"])


# ------------------------------------------------------------------ index


def extract_payments_index(current: pd.DataFrame, window: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame:
    """Current payments created since ``payments.index.since`` (or ``lookback_days`` before the process time)."""
    since = _index_since(window, params)
    created = pd.to_datetime(current["created_at"], utc=True)
    index = current.loc[(created >= since).to_numpy(), INDEX_COLUMNS].reset_index(drop=True)
    index.attrs["since"] = since.isoformat()
    logger.info("payments index: %d current payments created since %s", len(index), since.isoformat())
    return index


def _index_since(window: dict[str, Any], params: dict[str, Any]) -> pd.Timestamp:
    if params.get("since"):
        return _utc(params["since"])
    return _utc(window["until"]) - pd.Timedelta(days=float(params.get("lookback_days", 90)))


def validate_payments_index(index: pd.DataFrame, window: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame:
    """The index, checked: schema, one row per key, creation dates within ``[since, process time]``."""
    name = "payments_index"
    missing = [column for column in INDEX_COLUMNS if column not in index.columns]
    if missing:
        raise ValueError(f"dataset '{name}' lacks columns {missing}; expected {INDEX_COLUMNS}")
    duplicated = index.duplicated(KEY)
    if duplicated.any():
        first = index.loc[duplicated, KEY].iloc[0].to_dict()
        raise ValueError(f"dataset '{name}': {int(duplicated.sum())} duplicate current key(s), e.g. {first}")
    for column in KEY:
        if index[column].isna().any():
            raise ValueError(f"dataset '{name}': column {column} has nulls at row {int(index[column].isna().argmax())}")
    since, until = _index_since(window, params), _utc(window["until"])
    created = pd.to_datetime(index["created_at"], utc=True)
    outside = ~created.between(since, until)
    if outside.any():
        row = int(np.flatnonzero(outside.to_numpy())[0])
        raise ValueError(
            f"dataset '{name}': created_at {created.iloc[row]} at row {row} is outside [{since}, {until}]"
        )
    typed = index.astype({"payment_id": "int64", "company_code": "string", "external_client_id": "string",
                          "status": "string", "amount": "float64"})
    for column in ("payment_at", "created_at", "updated_at"):
        typed[column] = pd.to_datetime(typed[column], utc=True)
    return typed
