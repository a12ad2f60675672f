"""Crypto medallion nodes: fetch plan, silver, gaps, gold (the exchange client: tests/sources/test_exchange.py)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from cripto_platform.pipelines.ingestion import crypto_nodes
from cripto_platform.sources.exchange import to_ms


def _silver(symbol_dates: dict[str, list[str]]) -> pd.DataFrame:
    frames = [pd.DataFrame({"symbol": symbol, "date": pd.to_datetime(dates)}) for symbol, dates in symbol_dates.items()]
    return pd.concat(frames, ignore_index=True)


PARAMS = {
    "mode": "batch",
    "symbols": ["BTCUSDT", "ETHUSDT"],
    "start_date": "2024-01-01",
    "end_date": None,
    "historical": {"start_date": "2023-06-01", "end_date": "2023-06-30"},
}


def test_batch_plan_starts_after_what_silver_has_per_symbol():
    silver = _silver({"BTCUSDT": ["2024-03-01", "2024-03-05"], "SOLUSDT": ["2024-03-01"]})
    plan = crypto_nodes.plan_crypto_fetch(silver, PARAMS, "20240310").set_index("symbol")
    assert plan.loc["BTCUSDT", "start"] == pd.Timestamp("2024-03-06")
    assert plan.loc["ETHUSDT", "start"] == pd.Timestamp("2024-01-01")  # new symbol: from start_date
    assert (plan["end"] == pd.Timestamp("2024-03-09")).all()  # the last closed day before the version date


def test_batch_plan_on_empty_silver_and_historical_mode():
    plan = crypto_nodes.plan_crypto_fetch(pd.DataFrame(), PARAMS, "20240110")
    assert (plan["start"] == pd.Timestamp("2024-01-01")).all()
    historical = crypto_nodes.plan_crypto_fetch(_silver({"BTCUSDT": ["2024-03-05"]}), {**PARAMS, "mode": "historical"}, "20240310")
    assert (historical["start"] == pd.Timestamp("2023-06-01")).all() and (historical["end"] == pd.Timestamp("2023-06-30")).all()
    with pytest.raises(ValueError, match="batch' or 'historical"):
        crypto_nodes.plan_crypto_fetch(pd.DataFrame(), {**PARAMS, "mode": "stream"}, "20240310")


def _kline(day: str, close: float, volume: float = 10.0) -> list:
    t = to_ms(day)
    return [t, "1.0", "2.0", "0.5", f"{close:.8f}", f"{volume:.8f}", t + 86_399_999, "1.0", 7, "1.0", "1.0", "0"]


def test_silver_types_and_deduplicates_keeping_the_latest_fetch():
    first = {"20240101/klines/BTCUSDT/a-p000": json.dumps([_kline("2024-01-01", 100), _kline("2024-01-02", 101)])}
    previous = crypto_nodes.build_crypto_silver(first, list(first), pd.DataFrame(), "20240103")["20240103"]
    again = {"20240104/klines/BTCUSDT/b-p000": json.dumps([_kline("2024-01-02", 102), _kline("2024-01-03", 103)])}
    silver = crypto_nodes.build_crypto_silver(again, list(again), previous, "20240104")["20240104"]
    assert silver["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert silver["close"].tolist() == [100.0, 102.0, 103.0]  # the re-fetched candle replaced the old one
    assert silver["close"].dtype == "float64" and silver["trades"].dtype == "int64"
    assert str(silver["open_time"].dt.tz) == "UTC" and set(silver["month"]) == {"2024-01"}


def test_gaps_are_detected_per_symbol():
    silver = _silver(
        {"BTCUSDT": ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06", "2024-01-08"], "ETHUSDT": ["2024-01-01", "2024-01-02"]}
    )
    report = crypto_nodes.detect_crypto_gaps(silver)
    assert report.to_dict("records") == [
        {"symbol": "BTCUSDT", "gap_start": pd.Timestamp("2024-01-03").date(), "gap_end": pd.Timestamp("2024-01-04").date(), "missing_candles": 2},
        {"symbol": "BTCUSDT", "gap_start": pd.Timestamp("2024-01-07").date(), "gap_end": pd.Timestamp("2024-01-07").date(), "missing_candles": 1},
    ]


def test_daily_features_match_a_hand_computed_example():
    closes = [100.0, 110.0, 99.0, 108.9]
    volumes = [10.0, 20.0, 30.0, 40.0]
    silver = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "date": pd.date_range("2024-01-01", periods=4),
            "close": closes,
            "volume": volumes,
        }
    )
    params = {"volatility_windows": [2], "moving_average_windows": [2], "volume_zscore_window": 3, "min_observations_fraction": 1.0}
    gold = crypto_nodes.build_crypto_daily_features(silver, params, "20240105")["20240105"]
    assert gold["return_1d"].round(10).tolist()[1:] == [0.1, -0.1, 0.1]
    assert math.isnan(gold["return_1d"].iloc[0])
    assert gold["log_return_1d"].iloc[1] == pytest.approx(math.log(1.1))
    assert gold["volatility_2d"].iloc[2] == pytest.approx(np.std([math.log(1.1), math.log(0.9)], ddof=1))
    assert gold["ma_2d"].tolist()[1:] == [105.0, 104.5, 103.95]
    assert gold["close_to_ma_2d"].iloc[1] == pytest.approx(110 / 105 - 1)
    assert gold["volume_zscore_3d"].iloc[2] == pytest.approx(1.0)  # (30 - 20) / std(10, 20, 30)
    assert gold["target_next_return_1d"].round(10).tolist()[:3] == [0.1, -0.1, 0.1]
    assert math.isnan(gold["target_next_return_1d"].iloc[3])


def test_returns_do_not_span_a_gap():
    silver = pd.DataFrame(
        {"symbol": "ETHUSDT", "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-04"]), "close": [10.0, 11.0, 12.0], "volume": 1.0}
    )
    params = {"volatility_windows": [2], "moving_average_windows": [2], "volume_zscore_window": 2, "min_observations_fraction": 1.0}
    gold = crypto_nodes.build_crypto_daily_features(silver, params, "20240105")["20240105"]
    assert len(gold) == 3  # no rows invented for the missing day
    assert math.isnan(gold["return_1d"].iloc[2])  # 2024-01-04 has no previous-day close
    assert math.isnan(gold["target_next_return_1d"].iloc[1])
