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
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import requests

from cripto_platform.sources.http import get_with_retries, serve_until_interrupted
from cripto_platform.sources.payments import COMPANY_COLUMNS, PAYMENT_COLUMNS, generate_companies, generate_payments

logger = logging.getLogger(__name__)


class PaymentsApiError(RuntimeError):
    """The payments API could not be read (after retries where retrying makes sense)."""


MISSING_FIELDS = "missing_fields"  # column of the raw batch: the row's absent fields ("amount,status"), or null


def absent_fields(rows: list[dict[str, Any]], fields: list[str]) -> pd.Series:
    """Per row, the ``fields`` absent from its JSON object, comma-joined (null when it has them all).

    An absent field is not a JSON ``null``: once rows become a table both are empty cells, so this
    is the one place the difference is still visible. Only rows lacking something are looked at
    field by field.
    """
    required = frozenset(fields)
    complete = np.fromiter((row.keys() >= required for row in rows), dtype=bool, count=len(rows))
    absent = pd.Series(pd.NA, index=pd.RangeIndex(len(rows)), dtype="string")
    lacking = np.flatnonzero(~complete)
    if len(lacking):
        absent.iloc[lacking] = [",".join(f for f in fields if f not in rows[i]) for i in lacking]
    return absent


class PaymentsApiClient:
    """Reads every page of ``/companies`` and ``/payments`` with timeouts, retries and guards.

    Retries (exponential backoff: ``backoff_seconds * 2**attempt``) cover 5xx answers, connection
    errors, timeouts and replies slower than ``request_deadline_seconds`` (the whole request, body
    included; ``timeout_seconds`` bounds each socket read). A 4xx answer fails at once, and so does an
    answer the protocol rules out, naming the URL and the page: a body that is not a JSON list, an
    element that is not a JSON object, a page whose ids go back (the server repeating a page or
    ignoring ``offset``), more than ``max_pages`` pages, or a required field absent from every row.
    Amounts keep the API's digits: JSON numbers are parsed as ``Decimal``, never as binary floats.
    Progress is logged at INFO every ``progress_every_pages`` pages.
    """

    def __init__(
        self,
        base_url: str,
        *,
        page_size: int = 1000,
        timeout_seconds: float = 10.0,
        request_deadline_seconds: float = 60.0,
        max_pages: int = 10_000,
        progress_every_pages: int = 100,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url:
            raise PaymentsApiError("payments API: base_url is empty (set payments.source.base_url)")
        for name, value in (("page_size", page_size), ("max_pages", max_pages),
                            ("progress_every_pages", progress_every_pages)):
            if value < 1:
                raise PaymentsApiError(f"payments API: {name} must be >= 1, got {value}")
        if not request_deadline_seconds > 0:
            raise PaymentsApiError(f"payments API: request_deadline_seconds must be > 0, got {request_deadline_seconds}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout_seconds = timeout_seconds
        self.request_deadline_seconds = request_deadline_seconds
        self.max_pages = max_pages
        self.progress_every_pages = progress_every_pages
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.session = session or requests.Session()

    def fetch_companies(self) -> list[dict[str, Any]]:
        """Every company, all pages; a company lacking any field of the schema fails (no quarantine for companies)."""
        return self._fetch_all("/companies", {}, COMPANY_COLUMNS, partial_rows=False)

    def fetch_payments(self, updated_since: str | pd.Timestamp) -> list[dict[str, Any]]:
        """Every payment updated after ``updated_since``, all pages; rows lacking some field are kept (see ``absent_fields``)."""
        stamp = pd.Timestamp(updated_since)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return self._fetch_all("/payments", {"updated_at": stamp.isoformat()}, PAYMENT_COLUMNS, partial_rows=True)

    def _fetch_all(
        self, path: str, params: dict[str, Any], fields: list[str], *, partial_rows: bool
    ) -> list[dict[str, Any]]:
        endpoint = requests.Request("GET", f"{self.base_url}{path}", params=params).prepare().url
        rows: list[dict[str, Any]] = []
        previous: list[dict[str, Any]] | None = None
        for number in range(1, self.max_pages + 1):
            offset = (number - 1) * self.page_size
            page, url = self._get(path, {**params, "limit": self.page_size, "offset": offset})
            _check_page(page, previous, url, number, offset)
            rows.extend(page)
            if number % self.progress_every_pages == 0:
                logger.info("payments API GET %s: %d pages, %d rows so far", endpoint, number, len(rows))
            if len(page) < self.page_size:
                _check_fields(rows, fields, endpoint, partial_rows)
                logger.info("payments API GET %s: %d rows in %d page(s)", endpoint, len(rows), number)
                return rows
            previous = page
        raise PaymentsApiError(
            f"payments API GET {endpoint}: page {self.max_pages} ({url}) was still full after "
            f"max_pages={self.max_pages} pages ({len(rows)} rows); stopping. The source is larger than "
            "payments.source.max_pages allows (raise it) or it never ends its listing"
        )

    def _get(self, path: str, params: dict[str, Any]) -> tuple[list[Any], str]:
        """One page (the parsed JSON list) and the URL it came from."""
        response = get_with_retries(
            self.session, f"{self.base_url}{path}", params, source="payments API", error=PaymentsApiError,
            timeout=self.timeout_seconds, max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
            deadline=self.request_deadline_seconds,
        )
        try:  # Decimal keeps the digits sent (1.005 stays 1.005); NaN/Infinity stay visible as text
            page = json.loads(response.content, parse_float=Decimal, parse_constant=Decimal)
        except ValueError:
            page = None
        if not isinstance(page, list):
            raise PaymentsApiError(
                f"payments API GET {response.url}: expected a JSON list of rows, got {response.text[:200]!r}"
            )
        return page, response.url


def _check_page(page: list[Any], previous: list[dict[str, Any]] | None, url: str, number: int, offset: int) -> None:
    """Fail on what the protocol rules out: non-object elements, ids going back, a page served twice."""
    not_object = next((i for i, row in enumerate(page) if not isinstance(row, dict)), None)
    if not_object is not None:
        raise PaymentsApiError(
            f"payments API GET {url}: page {number}, element {not_object} (row {offset + not_object}) is "
            f"{json.dumps(page[not_object], default=str)[:100]}, not a JSON object; the page is rejected"
        )
    if not page:
        return
    first, last = page[0].get("id"), page[-1].get("id")
    if _is_int(first) and _is_int(last) and first > last:
        raise PaymentsApiError(
            f"payments API GET {url}: page {number} is not ordered by id (first id {first}, last id {last})"
        )
    if previous is None:
        return
    if page == previous:
        raise PaymentsApiError(
            f"payments API GET {url}: page {number} repeats page {number - 1} row for row; the server is "
            "not honouring offset, stopping instead of reading the same page forever"
        )
    before = previous[-1].get("id")
    # A row sent twice may straddle two pages (equal ids); going back means a repeated or misplaced page.
    if _is_int(first) and _is_int(before) and first < before:
        raise PaymentsApiError(
            f"payments API GET {url}: page {number} starts at id {first}, before the last id {before} of "
            f"page {number - 1}; ids must advance (the server is repeating pages or ignoring offset)"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(rows: list[dict[str, Any]], fields: list[str], endpoint: str, partial_rows: bool) -> None:
    """A field absent from every row fails; absent from some: fail (``partial_rows`` false) or warn."""
    absent = absent_fields(rows, fields).dropna()
    if absent.empty:
        return
    counts = absent.str.split(",").explode().value_counts()
    everywhere = [field for field in fields if counts.get(field, 0) == len(rows)]
    if everywhere:
        raise PaymentsApiError(
            f"payments API GET {endpoint}: field(s) {everywhere} absent from all {len(rows)} rows; "
            f"expected every row to have {fields}"
        )
    summary = ", ".join(f"{field} in {int(n)} row(s)" for field, n in counts.items())
    if not partial_rows:
        raise PaymentsApiError(
            f"payments API GET {endpoint}: rows lack fields: {summary} (first at row {int(absent.index[0])}); "
            f"expected every row to have {fields}"
        )
    logger.warning("payments API GET %s: %d of %d rows lack fields (%s); they will be quarantined",
                   endpoint, len(absent), len(rows), summary)


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
