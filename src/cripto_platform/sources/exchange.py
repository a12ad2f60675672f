"""Binance spot klines (OHLCV candles): a paginating client and a local server speaking the same protocol.

Protocol (https://developers.binance.com/docs/binance-spot-api-docs/rest-api, ``GET /api/v3/klines``):
query ``symbol``, ``interval`` (this project uses ``1d``), ``startTime``/``endTime`` (ms since epoch,
inclusive) and ``limit`` (max 1000). The answer is a JSON array of arrays::

    [open_time, "open", "high", "low", "close", "volume", close_time, "quote_volume",
     trades, "taker_buy_base_volume", "taker_buy_quote_volume", "0"]

Errors are ``{"code": <negative int>, "msg": "..."}`` with a 4xx status; 429 means rate limited
(with ``Retry-After``). The local server serves seeded generated prices for any configured symbol::

    python -m cripto_platform.sources.exchange --port 8001
    curl 'http://127.0.0.1:8001/api/v3/klines?symbol=BTCUSDT&interval=1d&limit=3'
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import requests

from cripto_platform.sources.http import get_with_retries, serve_until_interrupted

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
INTERVAL_MS = {"1d": DAY_MS}
MAX_LIMIT = 1000
KLINES_PATH = "/api/v3/klines"
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
BASE_PRICES = {"BTCUSDT": 42000.0, "ETHUSDT": 2300.0, "SOLUSDT": 100.0}


class ExchangeError(RuntimeError):
    """The exchange refused a request, or kept failing after every retry."""


def to_ms(value: str | pd.Timestamp | datetime) -> int:
    """Milliseconds since the epoch (UTC) of a date or timestamp."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


class GeneratedExchange:
    """Seeded daily candles per symbol from ``listed_from`` up to the last closed day before ``until``.

    ``missing_fraction`` of the days have no candle (as after an exchange outage), so gaps occur.
    ``until`` is a date (exclusive upper bound of open times) or None for the current UTC time.
    """

    def __init__(
        self,
        symbols: tuple[str, ...] | list[str] = DEFAULT_SYMBOLS,
        listed_from: str = "2023-01-01",
        until: str | None = None,
        seed: int = 4,
        missing_fraction: float = 0.01,
    ) -> None:
        self.symbols = tuple(symbols)
        self.listed_from = to_ms(listed_from)
        self.until = until
        self.seed = seed
        self.missing_fraction = missing_fraction
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def now_ms(self) -> int:
        return to_ms(self.until) if self.until else int(time.time() * 1000)

    def _series(self, symbol: str, n_days: int) -> np.ndarray:
        """Columns open_time, open, high, low, close, volume, trades for ``n_days`` from listing."""
        key = (symbol, n_days)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, zlib.crc32(symbol.encode())])
            # Draw a fixed long horizon so a later ``until`` extends the series without changing it.
            horizon = max(n_days, 4000)
            log_returns = rng.normal(0.0005, 0.03, horizon)
            close = BASE_PRICES.get(symbol, 10.0) * np.exp(np.cumsum(log_returns))
            open_ = np.concatenate([[BASE_PRICES.get(symbol, 10.0)], close[:-1]])
            spread = np.abs(rng.normal(0, 0.015, horizon))
            high = np.maximum(open_, close) * (1 + spread)
            low = np.minimum(open_, close) * (1 - spread)
            volume = rng.lognormal(8, 0.4, horizon) * 1e6 / close
            trades = rng.integers(50_000, 900_000, horizon)
            present = rng.random(horizon) >= self.missing_fraction
            open_time = self.listed_from + np.arange(horizon, dtype="int64") * DAY_MS
            table = np.column_stack([open_time, open_, high, low, close, volume, trades, present])
            self._cache[key] = table[:n_days]
        return self._cache[key]

    def klines(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[list]:
        """Rows as the API returns them (closed candles only, at most ``limit``)."""
        if symbol not in self.symbols:
            raise ExchangeError(json.dumps({"code": -1121, "msg": "Invalid symbol."}))
        if interval not in INTERVAL_MS:
            raise ExchangeError(json.dumps({"code": -1120, "msg": "Invalid interval."}))
        last_closed = (self.now_ms() - self.listed_from) // DAY_MS  # candles [0, last_closed) are closed
        if last_closed <= 0:
            return []
        series = self._series(symbol, int(last_closed))
        open_time = series[:, 0].astype("int64")
        mask = series[:, 7].astype(bool)
        if start_ms is not None:
            mask &= open_time >= start_ms
        if end_ms is not None:
            mask &= open_time <= end_ms
        rows = series[mask][: max(1, min(int(limit), MAX_LIMIT))]
        ot = rows[:, 0].astype("int64")
        fmt = lambda values: np.char.mod("%.8f", values).tolist()  # noqa: E731 - prices as strings, like Binance
        quote = rows[:, 5] * rows[:, 4]
        return [
            list(r)
            for r in zip(
                ot.tolist(), fmt(rows[:, 1]), fmt(rows[:, 2]), fmt(rows[:, 3]), fmt(rows[:, 4]), fmt(rows[:, 5]),
                (ot + DAY_MS - 1).tolist(), fmt(quote), rows[:, 6].astype("int64").tolist(),
                fmt(rows[:, 5] * 0.5), fmt(quote * 0.5), ["0"] * len(rows),
            )
        ]


class KlinesClient:
    """Binance ``/api/v3/klines`` client: pagination over time, timeouts, retries with backoff.

    Retries connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``) up to
    ``max_retries`` times with exponential backoff; other 4xx answers raise ``ExchangeError`` at once.
    """

    def __init__(
        self,
        base_url: str = "https://api.binance.com",
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        limit: int = MAX_LIMIT,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.limit = min(int(limit), MAX_LIMIT)
        self.session = session or requests.Session()
        self.sleep = sleep

    def _request(self, params: dict[str, Any]) -> str:
        """The response body of one klines request, retried on transient failures."""
        response = get_with_retries(
            self.session, f"{self.base_url}{KLINES_PATH}", params,
            source=f"klines {params.get('symbol')}", error=ExchangeError, timeout=self.timeout,
            max_retries=self.max_retries, backoff_seconds=self.backoff_seconds, sleep=self.sleep,
        )
        return response.text

    def fetch(self, symbol: str, start_ms: int, end_ms: int, interval: str = "1d") -> list[dict[str, Any]]:
        """Every page of candles with open time in [start_ms, end_ms], each as received (``body``)."""
        step = INTERVAL_MS[interval]
        pages: list[dict[str, Any]] = []
        cursor = int(start_ms)
        while cursor <= end_ms:
            params = {"symbol": symbol, "interval": interval, "startTime": cursor, "endTime": int(end_ms), "limit": self.limit}
            body = self._request(params)
            rows = json.loads(body)
            if not isinstance(rows, list):
                raise ExchangeError(f"klines {symbol}: expected a JSON array, got {body[:200]}")
            if not rows:
                break
            pages.append({"symbol": symbol, "start_ms": cursor, "end_ms": int(end_ms), "page": len(pages), "body": body, "rows": len(rows)})
            cursor = int(rows[-1][0]) + step
            if len(rows) < self.limit:
                break
        return pages


class GeneratedKlinesClient(KlinesClient):
    """The same client (pagination, page format) answered in-process by a ``GeneratedExchange``."""

    def __init__(self, exchange: GeneratedExchange, limit: int = MAX_LIMIT) -> None:
        super().__init__(base_url="generated://", limit=limit)
        self.exchange = exchange

    def _request(self, params: dict[str, Any]) -> str:
        rows = self.exchange.klines(
            params["symbol"], params["interval"], params.get("startTime"), params.get("endTime"), params["limit"]
        )
        return json.dumps(rows, separators=(",", ":"))


class _KlinesHandler(BaseHTTPRequestHandler):
    server: "ExchangeServer"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the server logs at debug level
        logger.debug("exchange server: " + format, *args)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parsed = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        if parsed.path == "/api/v3/ping":
            return self._send(200, {})
        if parsed.path != KLINES_PATH:
            return self._send(404, {"code": -1000, "msg": f"Unknown path {parsed.path}"})
        with self.server.lock:
            self.server.requests.append(query)
            failure = self.server.fail_next.pop(0) if self.server.fail_next else None
        if failure:
            return self._send(failure, {"code": -1003, "msg": "Too many requests."} if failure == 429 else {"code": -1001, "msg": "Internal error."}, {"Retry-After": "0"} if failure == 429 else None)
        if "symbol" not in query or "interval" not in query:
            return self._send(400, {"code": -1102, "msg": "Mandatory parameter 'symbol' or 'interval' was not sent."})
        try:
            limit = int(query.get("limit", 500))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
            rows = self.server.exchange.klines(query["symbol"], query["interval"], start, end, limit)
        except ExchangeError as error:
            return self._send(400, json.loads(str(error)))
        except ValueError:
            return self._send(400, {"code": -1100, "msg": "Illegal characters found in a parameter."})
        return self._send(200, rows)


class ExchangeServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer answering ``/api/v3/klines`` from a ``GeneratedExchange``.

    ``requests`` records every klines query; ``fail_next`` is a list of HTTP statuses (e.g. 503,
    429) answered to the next requests, to exercise the client's retries.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], exchange: GeneratedExchange) -> None:
        super().__init__(address, _KlinesHandler)
        self.exchange = exchange
        self.requests: list[dict[str, str]] = []
        self.fail_next: list[int] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_server(exchange: GeneratedExchange | None = None, host: str = "127.0.0.1", port: int = 0) -> ExchangeServer:
    """Start a server in a background thread (``port=0`` picks a free port); stop it with ``shutdown()``."""
    server = ExchangeServer((host, port), exchange or GeneratedExchange())
    threading.Thread(target=server.serve_forever, name="exchange-server", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Binance-compatible klines server over generated prices")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--symbols", nargs="+", default=list(DEFAULT_SYMBOLS))
    parser.add_argument("--listed-from", default="2023-01-01")
    parser.add_argument("--until", default=None, help="serve candles before this date (default: now)")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    exchange = GeneratedExchange(args.symbols, args.listed_from, args.until, args.seed)
    server = ExchangeServer((args.host, args.port), exchange)
    print(f"serving {KLINES_PATH} for {', '.join(args.symbols)} on {server.url} (Ctrl-C to stop)", flush=True)
    serve_until_interrupted(server)


if __name__ == "__main__":
    main()
