"""Crypto medallion nodes: plan the fetch, bronze responses, silver candles with gaps, gold features."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cripto_platform.pipelines.ingestion.common import of_version
from cripto_platform.sources.exchange import (
    DAY_MS,
    GeneratedExchange,
    GeneratedKlinesClient,
    KlinesClient,
    to_ms,
)

logger = logging.getLogger(__name__)

KLINE_FIELDS = [
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "trades", "taker_buy_base_volume", "taker_buy_quote_volume", "ignore",
]
FLOAT_FIELDS = ["open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume"]
SILVER_COLUMNS = ["symbol", "date", "open_time", "close_time", *FLOAT_FIELDS, "trades", "month", "ingested_version"]


def select_previous_crypto_silver(versions: dict[str, Callable[[], pd.DataFrame]], version: str) -> pd.DataFrame:
    """Silver's newest stored version not after ``version`` (empty when there is none): what a run of ``version``
    builds on (``crypto_candles_silver_previous`` loads every stored version lazily)."""
    earlier = sorted(v for v in versions if v <= str(version))
    if not earlier:
        logger.info("no stored version up to %s (have %s)", version, sorted(versions) or "none")
        return pd.DataFrame()
    logger.info("building on stored version %s (run version %s)", earlier[-1], version)
    return versions[earlier[-1]]()


def plan_crypto_fetch(silver: pd.DataFrame, params: dict[str, Any], version: str) -> pd.DataFrame:
    """Per symbol, the first and last candle day to fetch.

    ``batch``: from the day after the newest candle silver holds for that symbol (or
    ``start_date`` for a new symbol) to ``end_date`` (default: the day before the run's version
    date, the last closed daily candle). ``historical``: the ``historical`` date range, whatever
    silver holds (a backfill; silver deduplicates).
    """
    mode = params["mode"]
    run_day = pd.Timestamp(version)
    if mode == "historical":
        start = pd.Timestamp(params["historical"]["start_date"])
        end = pd.Timestamp(params["historical"]["end_date"])
        plan = pd.DataFrame({"symbol": params["symbols"], "start": start, "end": end})
    elif mode == "batch":
        end = pd.Timestamp(params["end_date"]) if params["end_date"] else run_day - pd.Timedelta(days=1)
        plan = pd.DataFrame({"symbol": params["symbols"], "start": pd.Timestamp(params["start_date"]), "end": end})
        if not silver.empty:
            newest = pd.to_datetime(silver.groupby("symbol", observed=True)["date"].max().astype(str))
            known = plan["symbol"].map(newest)
            plan["start"] = (known + pd.Timedelta(days=1)).where(known.notna(), plan["start"])
    else:
        raise ValueError(f"parameter ingestion.crypto.mode must be 'batch' or 'historical', got '{mode}'")
    plan["start"] = pd.to_datetime(plan["start"]).astype("datetime64[ns]")
    plan["end"] = pd.to_datetime(plan["end"]).astype("datetime64[ns]")
    for row in plan.itertuples():  # one line per symbol, not per candle
        if row.start > row.end:
            logger.info("crypto %s %s: up to date through %s, nothing to fetch", mode, row.symbol, row.end.date())
        else:
            logger.info("crypto %s %s: fetch %s .. %s", mode, row.symbol, row.start.date(), row.end.date())
    return plan


def make_client(exchange: dict[str, Any], symbols: list[str]) -> KlinesClient:
    """The real HTTP client for ``base_url``, or the in-process generated exchange (listing ``symbols``) when it is null."""
    if exchange["base_url"]:
        return KlinesClient(
            exchange["base_url"],
            timeout=exchange["timeout_seconds"],
            max_retries=exchange["max_retries"],
            backoff_seconds=exchange["backoff_seconds"],
            limit=exchange["limit"],
        )
    generated = exchange["generated"]
    return GeneratedKlinesClient(
        GeneratedExchange(
            symbols=symbols,
            listed_from=generated["listed_from"],
            until=generated["until"],
            seed=generated["seed"],
            missing_fraction=generated["missing_fraction"],
        ),
        limit=exchange["limit"],
    )


def fetch_crypto_candles(plan: pd.DataFrame, params: dict[str, Any], version: str) -> tuple[dict[str, str], list[str]]:
    """Bronze: every klines response as received, keyed ``{version}/klines/{symbol}/...``, and this run's keys."""
    client = make_client(params["exchange"], params["symbols"])
    bronze: dict[str, str] = {}
    interval = params["interval"]
    for row in plan.itertuples():
        if row.start > row.end:
            continue
        pages = client.fetch(row.symbol, to_ms(row.start), to_ms(row.end) + DAY_MS - 1, interval)
        for page in pages:
            key = f"{version}/klines/{row.symbol}/{row.start:%Y%m%d}-{row.end:%Y%m%d}-p{page['page']:03d}"
            bronze[key] = page["body"]
        logger.info(
            "crypto %s: %d candles in %d responses", row.symbol, sum(p["rows"] for p in pages), len(pages)
        )
    return bronze, sorted(bronze)


def parse_klines(bodies: dict[str, str]) -> pd.DataFrame:
    """Typed candles from raw klines responses (``{bronze key: body}``); the symbol comes from the key."""
    frames = []
    for key, body in bodies.items():  # one JSON document per response page
        rows = json.loads(body)
        if rows:
            frame = pd.DataFrame(rows, columns=KLINE_FIELDS[: len(rows[0])])
            frames.append(frame.assign(symbol=key.split("/")[2]))
    if not frames:
        return pd.DataFrame(columns=SILVER_COLUMNS[:-1])
    candles = pd.concat(frames, ignore_index=True)
    candles[FLOAT_FIELDS] = candles[FLOAT_FIELDS].apply(pd.to_numeric, errors="raise").astype("float64")
    candles["trades"] = pd.to_numeric(candles["trades"]).astype("int64")
    candles["open_time"] = pd.to_datetime(candles["open_time"].astype("int64"), unit="ms", utc=True)
    candles["close_time"] = pd.to_datetime(candles["close_time"].astype("int64"), unit="ms", utc=True)
    candles["date"] = candles["open_time"].dt.tz_localize(None).dt.normalize()
    candles["month"] = candles["open_time"].dt.strftime("%Y-%m")
    return candles[SILVER_COLUMNS[:-1]]


def build_crypto_silver(
    bronze: dict[str, Callable[[], str]], fetched_keys: list[str], previous: pd.DataFrame, version: str
) -> dict[str, pd.DataFrame]:
    """Silver: previous candles plus this run's responses, typed, deduplicated on (symbol, open_time)."""
    bodies = {key: (bronze[key]() if callable(bronze[key]) else bronze[key]) for key in fetched_keys}
    new = parse_klines(bodies).assign(ingested_version=version)
    if not previous.empty:
        previous = previous.assign(
            symbol=previous["symbol"].astype(str),
            month=previous["month"].astype(str),
            date=pd.to_datetime(previous["date"]),
        )[SILVER_COLUMNS]
    combined = pd.concat([frame for frame in (previous, new) if not frame.empty], ignore_index=True)
    if combined.empty:
        raise ValueError("crypto silver would be empty: no candles in silver and none fetched; check the symbols and dates")
    before = len(combined)
    silver = (
        combined.sort_values(["symbol", "open_time", "ingested_version"], kind="stable")
        .drop_duplicates(["symbol", "open_time"], keep="last")
        .reset_index(drop=True)
    )
    logger.info(
        "crypto silver: %d new candles fetched, %d duplicates merged, %d candles for %d symbols",
        len(new), before - len(silver), len(silver), silver["symbol"].nunique(),
    )
    return {version: silver[SILVER_COLUMNS]}


def detect_crypto_gaps(silver: pd.DataFrame | dict[str, pd.DataFrame], version: str | None = None) -> pd.DataFrame:
    """One row per run of missing daily candles between two present ones, per symbol (silver of ``version``)."""
    silver = of_version(silver, version)
    candles = silver[["symbol", "date"]].assign(symbol=silver["symbol"].astype(str), date=pd.to_datetime(silver["date"]))
    candles = candles.sort_values(["symbol", "date"])
    previous = candles.groupby("symbol")["date"].shift()
    missing = (candles["date"] - previous).dt.days - 1
    gaps = candles.assign(previous=previous, missing=missing).query("missing > 0")
    report = pd.DataFrame(
        {
            "symbol": gaps["symbol"],
            "gap_start": (gaps["previous"] + pd.Timedelta(days=1)).dt.date,
            "gap_end": (gaps["date"] - pd.Timedelta(days=1)).dt.date,
            "missing_candles": gaps["missing"].astype("int64"),
        }
    ).reset_index(drop=True)
    if report.empty:
        logger.info("crypto silver: no gaps")
    else:
        logger.warning(
            "crypto silver: %d gaps, %d missing daily candles: %s",
            len(report), int(report["missing_candles"].sum()),
            report.groupby("symbol")["missing_candles"].sum().to_dict(),
        )
    return report


def _rolling(frame: pd.DataFrame, column: str, window: int):
    """Per symbol, ``column`` over the observations in the trailing ``window`` days (a pandas rolling window),
    and how many observations each row's window holds."""
    rolling = frame.set_index("date").groupby("symbol", sort=False)[column].rolling(f"{window}D", min_periods=1)
    return rolling, rolling.count().to_numpy().astype("int64")


def build_crypto_daily_features(
    silver: pd.DataFrame | dict[str, pd.DataFrame], params: dict[str, Any], version: str
) -> dict[str, pd.DataFrame]:
    """Gold: per symbol and observed day, returns, rolling volatility, moving averages, volume z-score, target.

    A return needs the previous day's candle (it never spans a gap). Each rolling feature uses the
    observations inside its trailing ``window``-day calendar span (today included) and is null when
    fewer than ``ceil(min_observations_fraction * window)`` are there; ``n_candles_{w}d`` and
    ``n_returns_{w}d`` record how many each row's window used. Standard deviations are sample (ddof 1)
    and not annualised. Rows exist only for observed candles.
    """
    silver = of_version(silver, version)
    daily = silver[["symbol", "date", "close", "volume"]].assign(
        symbol=silver["symbol"].astype(str), date=pd.to_datetime(silver["date"])
    ).sort_values(["symbol", "date"], ignore_index=True)
    by_symbol = daily.groupby("symbol", sort=False)
    previous_day = by_symbol["date"].shift() == daily["date"] - pd.Timedelta(days=1)
    previous_close = by_symbol["close"].shift().where(previous_day)
    daily["return_1d"] = daily["close"] / previous_close - 1
    daily["log_return_1d"] = np.log(daily["close"] / previous_close)
    fraction = params["min_observations_fraction"]

    def minimum(window: int) -> int:
        return max(1, math.ceil(round(fraction * window, 9)))

    z_window = params["volume_zscore_window"]
    closes = {}  # one rolling pass per window over the closes: candle counts and moving averages
    for window in sorted({*params["volatility_windows"], *params["moving_average_windows"], z_window}):
        closes[window], daily[f"n_candles_{window}d"] = _rolling(daily, "close", window)
    for window in params["volatility_windows"]:
        returns, count = _rolling(daily, "log_return_1d", window)
        daily[f"volatility_{window}d"] = np.where(count >= minimum(window), returns.std(ddof=1).to_numpy(), np.nan)
        daily[f"n_returns_{window}d"] = count
    for window in params["moving_average_windows"]:
        enough = daily[f"n_candles_{window}d"].to_numpy() >= minimum(window)
        daily[f"ma_{window}d"] = np.where(enough, closes[window].mean().to_numpy(), np.nan)
        daily[f"close_to_ma_{window}d"] = daily["close"] / daily[f"ma_{window}d"] - 1
    volumes, count = _rolling(daily, "volume", z_window)
    enough = count >= minimum(z_window)
    mean = np.where(enough, volumes.mean().to_numpy(), np.nan)
    std = np.where(enough, volumes.std(ddof=1).to_numpy(), np.nan)
    daily[f"volume_zscore_{z_window}d"] = (daily["volume"] - mean) / std
    next_day = daily.groupby("symbol", sort=False)["date"].shift(-1) == daily["date"] + pd.Timedelta(days=1)
    daily["target_next_return_1d"] = daily.groupby("symbol", sort=False)["return_1d"].shift(-1).where(next_day)
    gold = daily.reset_index(drop=True)
    gold.insert(2, "feature_version", version)
    logger.info(
        "crypto gold: %d feature rows for %d symbols (windows need ceil(%s x window) observations)",
        len(gold), gold["symbol"].nunique(), fraction,
    )
    return {version: gold}


def store_crypto_silver(silver: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """This run's silver ``{version: frame}`` unchanged, for the lake: the write is a node of its own because the
    gaps and gold nodes read the run's silver in memory (``crypto_candles_silver_run``), not the lake."""
    return silver
