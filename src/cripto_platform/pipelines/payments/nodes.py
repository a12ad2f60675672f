"""Payments nodes (seed 002's two DAGs): bucket check, companies, watermark window, batch, SCD2, index.

Nodes are pure functions on DataFrames and dicts; the warehouse and the bucket are reached through
catalog datasets (``cripto_platform.datasets``), the payments schema is ``cripto_platform.payments``.
The two ``fetch_*`` nodes are the source boundary: the seeded generator by default, the seed's HTTP
API when ``payments.source.kind: api``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cripto_platform.payments import COMPARED, KEY, MAX_CENTS, PAYMENT_COLUMNS
from cripto_platform.pipelines.payments.params import (
    IndexParams,
    LandingParams,
    MergeParams,
    SampleDataParams,
    SourceParams,
    WindowParams,
)
from cripto_platform.run_metadata import stamp_run
from cripto_platform.run_metadata import utc_timestamp as _utc
from cripto_platform.sources.payments import COMPANY_COLUMNS as RAW_COMPANY_COLUMNS
from cripto_platform.sources.payments import PAYMENT_COLUMNS as RAW_PAYMENT_COLUMNS
from cripto_platform.sources.payments import generate_companies, generate_payments

logger = logging.getLogger(__name__)

BATCH_DATASET = "payments_batch_raw"
INDEX_COLUMNS = list(PAYMENT_COLUMNS)


# ------------------------------------------------------------------ bucket


def ensure_landing_bucket(params: LandingParams) -> dict[str, bool]:
    """What saving ``payments_landing_bucket`` makes sure of: the bucket exists, created only when allowed."""
    return {"create_if_missing": params.create_bucket_if_missing}


# ------------------------------------------------------------------ sources


def _api_client(source: SourceParams, api: dict[str, Any] | None):
    from cripto_platform.sources.payments_api import PaymentsApiClient

    base_url = source.base_url or (api or {}).get("base_url")
    if not base_url:
        raise ValueError(
            "payments.source.kind is 'api' but no base URL: set payments.source.base_url or the "
            "payments_api.base_url credential (CRIPTO_PAYMENTS_API_URL)"
        )
    options = source.model_dump(exclude={"kind", "base_url"})
    return PaymentsApiClient(base_url, **options)


def _as_text(records, columns: list[str]) -> pd.DataFrame:
    """Rows as received, every column as text (parsing is validation's job).

    JSON rows become object columns first, so integers beyond 2**53 (or 2**63) and the API's decimal
    digits reach the text unchanged instead of passing through float64.
    """
    if isinstance(records, pd.DataFrame):
        frame = records
    else:
        frame = pd.DataFrame(records, columns=columns, dtype=object)
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


def fetch_companies(source: SourceParams, sample: SampleDataParams, api: dict[str, Any] | None = None) -> pd.DataFrame:
    """Every company, as text: from the seeded generator or from ``GET /companies``."""
    if source.kind == "api":
        records = _api_client(source, api).fetch_companies()
    else:
        records = generate_companies(sample.n_companies, sample.seed, str(sample.origin))
    return _as_text(records, RAW_COMPANY_COLUMNS)


def fetch_payments_batch(
    window: dict[str, Any], source: SourceParams, sample: SampleDataParams, api: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Payments updated in the window, as text: generator, or ``GET /payments?updated_at=`` (all pages)."""
    from cripto_platform.sources.payments_api import MISSING_FIELDS, absent_fields

    if source.kind == "api":
        records = _api_client(source, api).fetch_payments(window["since"])
        frame = _as_text(records, RAW_PAYMENT_COLUMNS)
        frame[MISSING_FIELDS] = absent_fields(records, RAW_PAYMENT_COLUMNS)  # JSON null vs absent: validation tells them apart
    else:
        payments = generate_payments(window["since"], window["until"], **{**sample.model_dump(), "origin": str(sample.origin)})
        frame = _as_text(payments, RAW_PAYMENT_COLUMNS)
        frame[MISSING_FIELDS] = pd.Series(pd.NA, index=frame.index, dtype="string")
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


EPOCH = pd.Timestamp("1970-01-01", tz="UTC")  # a full extract reads everything updated since


def compute_payments_window(
    watermark: dict[str, Any], params: WindowParams, run_metadata: dict[str, str]
) -> dict[str, Any]:
    """The ``(since, until]`` window to read: from the watermark, ``since`` (a replay), or ``lookback_days`` back.

    ``until`` is the process time (the batch's effective time). A process time before the watermark
    fails: versions are stamped with it, and an older one would rewrite history. A full extract
    (``full_extract``) reads everything (``since`` is the epoch) and is declared as such.
    """
    until = _utc(params.process_time or run_metadata["started_at"])
    full_extract = params.full_extract
    replay_since = params.since
    last = _utc(watermark["last_update"]) if watermark.get("last_update") else None
    if last is not None and last > until:
        raise ValueError(
            f"watermark '{watermark['name']}' in table '{watermark['table']}' is "
            f"{last.isoformat()}, after the process time {until.isoformat()}: payments were already merged as "
            "of a later time, and a batch stamped earlier would rewrite their history. To re-read an older "
            "window, keep the process time and set payments.window.since (README: replay a window)"
        )
    if full_extract:
        since, origin = EPOCH, "full extract"
    elif replay_since:
        since = _utc(replay_since)
        if since >= until:
            raise ValueError(
                f"parameter payments.window.since={since.isoformat()} is not before the process time {until.isoformat()}"
            )
        origin = f"replay from payments.window.since (watermark {last.isoformat() if last is not None else 'none'})"
    elif last is not None:
        since, origin = last, "watermark"
    else:
        lookback = params.lookback_days
        since = until - pd.Timedelta(days=lookback)
        origin = f"no watermark: lookback of {lookback:g} days"
    window = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "process_date": until.strftime("%Y-%m-%d"),
        "effective_at": until.isoformat(),
        "batch_id": f"{since.isoformat()}/{until.isoformat()}",
        "origin": origin,
        "full_extract": full_extract,
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
    return {landing_partition(window, run_metadata): raw}


# ------------------------------------------------------------------ validation


def _arrow_text(text: pd.Series):
    """A text column as a trimmed Arrow string array (the validation helpers run in Arrow's C++ kernels)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(pa.array(text, type=pa.string(), from_pandas=True))


def _mask(values, index: pd.Index) -> pd.Series:
    import pyarrow.compute as pc

    return pd.Series(pc.fill_null(values, False).to_numpy(zero_copy_only=False), index=index, dtype=bool)


def _int64_from_text(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Integer text as exact Int64, with the masks of unparseable and out-of-int64-range values.

    Decided on the digits, never through float64 (which cannot tell 2**63 - 1 from 2**63): an integer
    of fewer than 19 digits fits; one of 19 digits fits when it is at most the limit, and digit strings
    of equal length compare like the numbers they spell. ``10`` and ``10.0`` are integers; ``1e3`` is not.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = _arrow_text(text)
    integer = pc.fill_null(pc.match_substring_regex(trimmed, r"^[+-]?[0-9]+(?:\.0*)?$"), False)
    try:  # the usual batch: plain in-range integers cast at once (the regex keeps out what else Arrow reads, e.g. 0x10)
        values, fits = pc.cast(pc.if_else(integer, trimmed, pa.scalar(None, pa.string())), pa.int64()), integer
    except pa.ArrowInvalid:  # some "+7", "7.0" or beyond int64: decide on the digits
        canonical = pc.replace_substring_regex(trimmed, r"^\+?(-?)0*([0-9]+)(?:\.0*)?$", r"\1\2")  # "+007.0" -> "7"
        digits = pc.utf8_ltrim(canonical, characters="-")
        length = pc.utf8_length(digits)
        limit = pc.if_else(pc.starts_with(canonical, "-"), "9223372036854775808", "9223372036854775807")
        fits = pc.and_(integer, pc.or_(pc.less(length, 19),
                                       pc.and_(pc.equal(length, 19), pc.less_equal(digits, limit))))
        fits = pc.fill_null(fits, False)
        values = pc.cast(pc.if_else(fits, canonical, pa.scalar(None, pa.string())), pa.int64())
    values = pd.Series(values.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), index=text.index)
    present = text.notna()
    return values, present & ~_mask(integer, text.index), _mask(pc.and_(integer, pc.invert(fits)), text.index)


DECIMAL_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _amount_from_text(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Amounts rounded to cents like PostgreSQL ``numeric`` (half away from zero), from the digits sent.

    Returns the amount (float64, exactly ``cents / 100`` so ``float * 100`` rounds back to the same
    cents), and the masks of unparseable and out-of-``numeric(14, 2)`` values (infinities included).
    The text is cast to an Arrow decimal (digits past the 10th decimal truncated: that never moves a
    value across a half cent) and rounded there, not as a binary float (where 1.005 is 1.00499...).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = _arrow_text(text)
    decimal = pc.fill_null(pc.match_substring_regex(trimmed, DECIMAL_TEXT), False)
    infinite = pc.fill_null(pc.match_substring_regex(trimmed, r"^[+-]?inf(inity)?$", ignore_case=True), False)
    candidates = pc.if_else(decimal, trimmed, pa.scalar(None, pa.string()))
    magnitude = pc.abs(pc.cast(candidates, pa.float64()))  # only to keep the decimal cast in range
    castable = pc.fill_null(pc.less(magnitude, 2e12), False)  # the exact bound is checked on the cents below
    digits = pc.if_else(castable, trimmed, pa.scalar(None, pa.string()))
    rounded = pc.round(pc.cast(digits, pa.decimal128(24, 10), safe=False), ndigits=2,
                       round_mode="half_towards_infinity")
    cents = pc.cast(pc.multiply(rounded, pa.scalar(100, pa.decimal128(3, 0))), pa.int64())
    too_big = pc.fill_null(pc.greater_equal(pc.abs(cents), MAX_CENTS), False)
    out_of_range = pc.or_(pc.or_(pc.and_(decimal, pc.invert(castable)), infinite), too_big)
    cents = cents.to_numpy(zero_copy_only=False).astype("float64")  # nulls -> NaN; |cents| < 2e14 is exact
    unparseable = text.notna() & ~_mask(pc.or_(decimal, infinite), text.index)
    return pd.Series(cents / 100, index=text.index), unparseable, _mask(out_of_range, text.index)


def validate_payments_batch(raw: pd.DataFrame, companies: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed payments, and rows with an absent field, a null key, a bad value or an unknown company with a reason.

    Ids must be integers within int64 and amounts fit ``numeric(14, 2)``; amounts are rounded to cents
    from their text like PostgreSQL does. Fields absent from a row's JSON object (column
    ``missing_fields`` of the raw batch, from the API client) quarantine it; a JSON null does not.
    """
    from cripto_platform.sources.payments_api import MISSING_FIELDS

    missing = [column for column in RAW_PAYMENT_COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(f"dataset '{BATCH_DATASET}' lacks columns {missing}; expected {RAW_PAYMENT_COLUMNS}")
    text = raw[RAW_PAYMENT_COLUMNS].astype("string")
    typed = pd.DataFrame(index=raw.index)
    typed["id"], bad_id, id_out_of_range = _int64_from_text(text["id"])
    typed["payment_id"], bad_payment_id, payment_id_out_of_range = _int64_from_text(text["payment_id"])
    typed["company_code"] = text["company_code"].str.strip().replace("", pd.NA)
    typed["external_client_id"] = text["external_client_id"]
    typed["status"] = text["status"]
    typed["amount"], bad_amount, amount_out_of_range = _amount_from_text(text["amount"])
    for column in ("payment_at", "created_at", "updated_at"):
        typed[column] = pd.to_datetime(text[column], utc=True, errors="coerce", format="ISO8601")

    def unparseable(column: str) -> pd.Series:
        return text[column].notna() & typed[column].isna()

    absent = raw[MISSING_FIELDS].astype("string") if MISSING_FIELDS in raw.columns else pd.Series(
        pd.NA, index=raw.index, dtype="string")
    absent = "," + absent + ","
    checks = {f"missing field {field}": absent.str.contains(f",{field},", regex=False)
              for field in RAW_PAYMENT_COLUMNS}
    checks.update({
        "unparseable id": bad_id,
        "id out of range": id_out_of_range,
        "null key payment_id": text["payment_id"].isna(),
        "unparseable payment_id": bad_payment_id,
        "payment_id out of range": payment_id_out_of_range,
        "null key company_code": typed["company_code"].isna(),
        "unparseable amount": bad_amount,
        "amount out of range": amount_out_of_range,
        "unparseable payment_at": unparseable("payment_at"),
        "unparseable created_at": unparseable("created_at"),
        "missing or unparseable updated_at": typed["updated_at"].isna(),
        "unknown company_code": typed["company_code"].notna()
        & ~typed["company_code"].isin(companies["company_code"]),
    })
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
    params: MergeParams,
    run_metadata: dict[str, str],
    quarantine: pd.DataFrame,
    duplicates: int,
) -> dict[str, Any]:
    """The merge request saved to ``payments_l0@scd2``: rows, effective time, the window's end, counts.

    ``missing_keys: invalidate`` closes every current key absent from the batch, which is only true
    of a full extract: an incremental batch asking for it is refused.
    """
    missing_keys = params.missing_keys
    if missing_keys == "invalidate" and not window.get("full_extract"):
        raise ValueError(
            "parameter payments.merge.missing_keys=invalidate closes every current payment absent from the batch, "
            f"but this batch is incremental (payments updated in ({window['since']}, {window['until']}]): "
            "invalidation needs a full extract (payments.window.full_extract=true)"
        )
    return {
        "rows": batch,
        "batch_id": window["batch_id"],
        "run_id": run_metadata["run_id"],
        "effective_at": window["effective_at"],
        "watermark": window["until"],
        "missing_keys": missing_keys,
        "max_invalidated_share": None if params.allow_mass_invalidation else params.max_invalidated_share,
        "duplicates": int(duplicates),
        "quarantined": len(quarantine),
    }


def report_payments_merge(merges: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """This run's merge counts (inserted, closed, unchanged, duplicates, quarantined) from the merge log."""
    mine = merges[merges["run_id"] == run_metadata["run_id"]]
    if mine.empty:
        raise ValueError(f"dataset 'payments_l0@merges': no merge logged for run_id {run_metadata['run_id']}")
    report = mine.tail(1).reset_index(drop=True)
    return report.assign(run_started_at=run_metadata["started_at"])


# ------------------------------------------------------------------ index


def extract_payments_index(current: pd.DataFrame, window: dict[str, Any], params: IndexParams) -> pd.DataFrame:
    """Current payments created since ``payments.index.since`` (or ``lookback_days`` before the process time)."""
    since = _index_since(window, params)
    created = pd.to_datetime(current["created_at"], utc=True)
    index = current.loc[(created >= since).to_numpy(), INDEX_COLUMNS].reset_index(drop=True)
    index.attrs["since"] = since.isoformat()
    logger.info("payments index: %d current payments created since %s", len(index), since.isoformat())
    return index


def _index_since(window: dict[str, Any], params: IndexParams) -> pd.Timestamp:
    if params.since is not None:
        return _utc(params.since)
    return _utc(window["until"]) - pd.Timedelta(days=params.lookback_days)


def validate_payments_index(index: pd.DataFrame, window: dict[str, Any], params: IndexParams) -> pd.DataFrame:
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


# ------------------------------------------------------------------ landing marker


def landing_partition(window: dict[str, Any], run_metadata: dict[str, str]) -> str:
    """The run's landing partition id: ``process_date=<date>/payments_<run_id>``."""
    return f"process_date={window['process_date']}/payments_{run_metadata['run_id']}"


def mark_payments_landing_merged(
    report: pd.DataFrame, window: dict[str, Any], run_metadata: dict[str, str]
) -> dict[str, pd.DataFrame]:
    """The run's merge report as the marker beside its landing file: that batch is in ``payments_l0``."""
    if report.empty or (report["run_id"] != run_metadata["run_id"]).any():
        raise ValueError(
            f"dataset 'payments_merge_report' is not this run's ({run_metadata['run_id']}); "
            "the landing file is left unmarked"
        )
    return {landing_partition(window, run_metadata): report}
