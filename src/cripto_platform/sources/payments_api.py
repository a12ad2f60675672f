"""The seed's payments/companies API: an HTTP client, and a small server speaking the same protocol.

Protocol (the seed's Node.js API): ``GET /companies?limit=&offset=`` and
``GET /payments?updated_at=<ISO>&limit=&offset=`` return JSON lists ordered by ``id``; a page shorter
than ``limit`` is the last one.

Serve generated data on a port (``--now`` pins the clock so pages stay stable between runs)::

    python -m cripto_platform.sources.payments_api --port 8000
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import requests

from cripto_platform.sources.http import get_with_retries, serve_until_interrupted
from cripto_platform.sources.payments import generate_companies, generate_payments

logger = logging.getLogger(__name__)


class PaymentsApiError(RuntimeError):
    """The payments API could not be read (after retries where retrying makes sense)."""


class PaymentsApiClient:
    """Reads every page of ``/companies`` and ``/payments`` with timeouts and retries.

    Retries (exponential backoff: ``backoff_seconds * 2**attempt``) cover 5xx answers, connection
    errors and timeouts; a 4xx answer or a body that is not a JSON list fails at once.
    """

    def __init__(
        self,
        base_url: str,
        *,
        page_size: int = 1000,
        timeout_seconds: float = 10.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url:
            raise PaymentsApiError("payments API: base_url is empty (set payments.source.base_url)")
        if page_size < 1:
            raise PaymentsApiError(f"payments API: page_size must be >= 1, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.session = session or requests.Session()

    def fetch_companies(self) -> list[dict[str, Any]]:
        """Every company, all pages."""
        return self._fetch_all("/companies", {})

    def fetch_payments(self, updated_since: str | pd.Timestamp) -> list[dict[str, Any]]:
        """Every payment updated after ``updated_since``, all pages."""
        stamp = pd.Timestamp(updated_since)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return self._fetch_all("/payments", {"updated_at": stamp.isoformat()})

    def _fetch_all(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._get(path, {**params, "limit": self.page_size, "offset": offset})
            rows.extend(page)
            if len(page) < self.page_size:
                logger.info("payments API %s: %d rows in %d page(s)", path, len(rows), offset // self.page_size + 1)
                return rows
            offset += self.page_size

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        response = get_with_retries(
            self.session, f"{self.base_url}{path}", params, source="payments API", error=PaymentsApiError,
            timeout=self.timeout_seconds, max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
        )
        try:
            page = response.json()
        except ValueError:
            page = None
        if not isinstance(page, list):
            raise PaymentsApiError(
                f"payments API GET {response.url}: expected a JSON list of rows, got {response.text[:200]!r}"
            )
        return page


# --------------------------------------------------------------------------------------------
# Server


class PaymentsApiServer(ThreadingHTTPServer):
    """The seed's API over the seeded generator.

    ``now``: the server's clock (None: the wall clock); payments are those updated in
    ``(updated_at, now]``. ``fail_first``: answer that many requests with 503 first (for tests).
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        generator: dict[str, Any] | None = None,
        n_companies: int = 40,
        now: str | None = None,
        fail_first: int = 0,
    ) -> None:
        super().__init__(address, _Handler)
        self.generator = dict(generator or {})
        self.generator.setdefault("n_companies", n_companies)
        self.now = now
        self.fail_first = fail_first
        self.requests_seen = 0
        self._lock = threading.Lock()
        self._cache: dict[tuple, pd.DataFrame] = {}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def should_fail(self) -> bool:
        with self._lock:
            self.requests_seen += 1
            return self.requests_seen <= self.fail_first

    def companies(self) -> pd.DataFrame:
        return self._cached(("companies",), lambda: generate_companies(
            self.generator["n_companies"], self.generator.get("seed", 7), self.generator.get("origin", "2024-01-01")))

    def payments(self, since: str, offset: int) -> pd.DataFrame:
        """Payments updated in ``(since, now]``; the first page fixes ``now`` for the following pages."""
        key = ("payments", since)
        with self._lock:
            if offset == 0 or key not in self._cache:
                until = self.now or datetime.now(timezone.utc).isoformat()
                if len(self._cache) >= 16:  # a few clients paging at once; forget the oldest query
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = generate_payments(since, until, **self.generator)
            return self._cache[key]

    def _cached(self, key, build) -> pd.DataFrame:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]


class _Handler(BaseHTTPRequestHandler):
    server: PaymentsApiServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        logger.debug("payments API server: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.server.should_fail():
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "temporarily unavailable"})
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        try:
            limit = int(query.get("limit", 100))
            offset = int(query.get("offset", 0))
            if limit < 0 or offset < 0:
                raise ValueError
        except ValueError:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": "limit and offset must be integers >= 0"})
        if parts.path == "/companies":
            frame = self.server.companies()
        elif parts.path == "/payments":
            if "updated_at" not in query:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": "updated_at is required"})
            try:
                pd.Timestamp(query["updated_at"])
            except ValueError:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": f"bad updated_at {query['updated_at']!r}"})
            frame = self.server.payments(query["updated_at"], offset)
        else:
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"no route {parts.path}"})
        page = frame.iloc[offset: offset + limit]
        records = json.loads(page.to_json(orient="records"))
        self._send(HTTPStatus.OK, records)

    def _send(self, status: HTTPStatus, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve_in_thread(server: PaymentsApiServer) -> threading.Thread:
    """Start ``server`` on a daemon thread (tests and notebooks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="payments-api", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cripto_platform.sources.payments_api",
                                     description="Serve the seed's payments API over generated data.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--companies", type=int, default=40)
    parser.add_argument("--payments-per-day", type=float, default=500.0)
    parser.add_argument("--now", default=None, help="fixed clock (ISO); default: the wall clock")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    server = PaymentsApiServer(
        (args.host, args.port),
        generator={"seed": args.seed, "payments_per_day": args.payments_per_day},
        n_companies=args.companies,
        now=args.now,
    )
    print(f"payments API on {server.url} (GET /companies, GET /payments?updated_at=...); Ctrl-C stops", flush=True)
    serve_until_interrupted(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
