"""Crypto gold: rolling windows over the observed candles, with a minimum number and a count per row."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cripto_platform.pipelines.ingestion import crypto_nodes

CONF = Path(__file__).resolve().parents[3] / "conf/base/parameters_ingestion.yml"
FEATURES = yaml.safe_load(CONF.read_text())["ingestion"]["crypto"]["features"]


def _silver(days: int, missing: list[int]) -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=days)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"symbol": "BTCUSDT", "date": dates, "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.02, days))),
                          "volume": rng.uniform(10, 20, days)})
    return frame.drop(index=missing).reset_index(drop=True)


def test_one_missing_candle_does_not_null_the_following_windows():
    assert FEATURES["volatility_windows"] == [7, 30] and FEATURES["min_observations_fraction"] == 0.7
    gold = crypto_nodes.build_crypto_daily_features(_silver(90, missing=[40]), FEATURES, "20240401")["20240401"]
    day = (pd.to_datetime(gold["date"]) - pd.Timestamp("2024-01-01")).dt.days
    after_first_month = gold[day >= 30]
    for column in ("volatility_7d", "ma_7d", "close_to_ma_7d", "volatility_30d", "ma_30d", "close_to_ma_30d", "volume_zscore_30d"):
        assert after_first_month[column].notna().all(), column
    after_gap = gold.set_index(day)
    assert after_gap.loc[41, "n_candles_7d"] == 6 and after_gap.loc[41, "n_returns_7d"] == 5  # days 35..41 without 40
    assert after_gap.loc[39, "n_candles_7d"] == 7 and after_gap.loc[50, "n_candles_30d"] == 29
    window = after_gap.loc[35:41]
    assert after_gap.loc[41, "ma_7d"] == window["close"].mean()
    returns = window["log_return_1d"].dropna()
    assert len(returns) == 5 and math.isclose(after_gap.loc[41, "volatility_7d"], returns.std(ddof=1))
    assert math.isnan(after_gap.loc[41, "return_1d"])  # a return never spans the gap


def test_windows_with_too_few_candles_stay_null():
    gold = crypto_nodes.build_crypto_daily_features(_silver(20, missing=[10, 11, 12]), FEATURES, "20240201")["20240201"]
    day = (pd.to_datetime(gold["date"]) - pd.Timestamp("2024-01-01")).dt.days
    row = gold.set_index(day).loc[13]  # days 7..13 hold 4 candles: fewer than ceil(0.7 x 7) = 5
    assert row["n_candles_7d"] == 4 and math.isnan(row["ma_7d"])
