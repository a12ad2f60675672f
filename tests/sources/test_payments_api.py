"""The payments API client against the shipped server on 127.0.0.1 (real HTTP, real sockets)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from cripto_platform.pipelines.payments.nodes import fetch_companies, fetch_payments_batch, validate_payments_batch
from cripto_platform.sources.payments import generate_companies, generate_payments
from cripto_platform.pipelines.payments.params import SourceParams
from tests.pipelines.payments.params import sample_dict, sample_params, source_params
from cripto_platform.sources.payments_api import (
    PaymentsApiClient,
    PaymentsApiError,
    PaymentsApiServer,
    serve_in_thread,
)

pytestmark = pytest.mark.integration  # real HTTP servers and sockets on 127.0.0.1

NOW = "2026-03-01T00:00:00+00:00"
GENERATOR = sample_dict(seed=11, origin="2026-01-01", payments_per_day=40, n_companies=7)
SAMPLE = sample_params(**GENERATOR)


@pytest.fixture
def make_server():
    servers = []

    def start(**options):
        server = PaymentsApiServer(("127.0.0.1", 0), generator=GENERATOR, n_companies=7, now=NOW, **options)
        serve_in_thread(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(server, **options):
    return PaymentsApiClient(server.url, backoff_seconds=0.01, timeout_seconds=5, **options)


def test_pagination_reads_every_page_in_id_order(make_server):
    server = make_server()
    since = "2026-02-20T00:00:00+00:00"
    expected = generate_payments(since, NOW, **GENERATOR)
    assert len(expected) > 100
    client = _client(server, page_size=37)
    rows = client.fetch_payments(since)
    assert server.requests_seen == len(expected) // 37 + 1  # several pages, the last one short
    got = pd.DataFrame(rows)
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["id"].is_monotonic_increasing
    assert set(got.columns) == set(expected.columns)
    companies = client.fetch_companies()
    assert [c["company_code"] for c in companies] == generate_companies(7, 11, "2026-01-01")["company_code"].tolist()


def test_exact_page_multiple_ends_with_an_empty_page(make_server):
    server = make_server()
    client = _client(server, page_size=7)  # 7 companies: one full page, then an empty one
    assert len(client.fetch_companies()) == 7
    assert server.requests_seen == 2


def test_server_failing_twice_is_retried(make_server, caplog):
    server = make_server(fail_first=2)
    rows = _client(server, page_size=1000, max_retries=3).fetch_companies()
    assert len(rows) == 7
    assert server.requests_seen == 3
    assert caplog.text.count("HTTP 503") == 2


def test_gives_up_after_max_retries_with_a_clear_error(make_server):
    server = make_server(fail_first=100)
    with pytest.raises(PaymentsApiError, match=r"/companies .*gave up after 3 attempts; last: HTTP 503"):
        _client(server, max_retries=2).fetch_companies()
    assert server.requests_seen == 3


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PaymentsApiClient(f"http://127.0.0.1:{port}", max_retries=1, backoff_seconds=0.01, timeout_seconds=1)
    with pytest.raises(PaymentsApiError, match="gave up after 2 attempts; last: ConnectionError"):
        client.fetch_companies()


def test_client_errors_are_not_retried(make_server):
    server = make_server()
    client = _client(server)
    with pytest.raises(PaymentsApiError, match="HTTP 400.*updated_at"):
        client._get("/payments", {"limit": 10, "offset": 0})  # updated_at missing
    assert server.requests_seen == 1


def test_pipeline_fetch_nodes_read_the_api_like_the_generator(make_server):
    server = make_server()
    source = source_params(kind="api", base_url=server.url, page_size=50, backoff_seconds=0.01)
    window = {"since": "2026-02-25T00:00:00+00:00", "until": NOW}
    from_api = fetch_payments_batch(window, source, SAMPLE)
    from_generator = fetch_payments_batch(window, source_params(kind="generator"), SAMPLE)
    pd.testing.assert_frame_equal(from_api, from_generator)
    assert from_api["payment_id"].isna().sum() == from_generator["payment_id"].isna().sum()
    pd.testing.assert_frame_equal(fetch_companies(source, SAMPLE), fetch_companies(source_params(kind="generator"), SAMPLE))


def test_base_url_from_credentials_when_the_parameter_is_null(make_server):
    server = make_server()
    window = {"since": "2026-02-27T00:00:00+00:00", "until": NOW}
    rows = fetch_payments_batch(window, source_params(kind="api", base_url=None, backoff_seconds=0.01), SAMPLE,
                                {"base_url": server.url})
    assert len(rows) > 0 and server.requests_seen >= 1
    with pytest.raises(ValueError, match=r"no base URL: set payments.source.base_url or .*CRIPTO_PAYMENTS_API_URL"):
        fetch_companies(source_params(kind="api", base_url=None), SAMPLE, {"base_url": None})


# ------------------------------------------------------------------ hostile servers (issue 9, items 5-10)


class _ScriptedServer(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 whose answers a test scripts: ``reply(handler, path, query)``."""

    daemon_threads = True

    def __init__(self, reply):
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.reply = reply
        self.requests_seen = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ScriptedHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        self.server.requests_seen += 1
        self.server.reply(self, parts.path, {key: values[-1] for key, values in parse_qs(parts.query).items()})

    def send_body(self, body: str, status: int = 200):
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def scripted():
    servers = []

    def start(reply):
        server = _ScriptedServer(reply)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _paged(rows_json: list[str]):
    """Serve ``rows_json`` (each row's JSON text) honouring limit/offset, as the protocol says."""

    def reply(handler, path, query):
        offset, limit = int(query["offset"]), int(query["limit"])
        handler.send_body("[" + ",".join(rows_json[offset: offset + limit]) + "]")

    return reply


def _row(i: int, **fields) -> dict:
    row = {"id": i, "payment_id": i, "company_code": "C0001", "external_client_id": f"CL{i}", "status": "approved",
           "amount": "10.00", "payment_at": "2026-02-01T10:00:00.000000Z", "created_at": "2026-02-01T09:00:00.000000Z",
           "updated_at": "2026-02-20T09:00:00.000000Z"}
    row.update(fields)
    return row


WINDOW = {"since": "2026-02-19T00:00:00+00:00", "until": NOW}
COMPANY_ROWS = pd.DataFrame({"company_code": ["C0001"]})


def _api(server, **options) -> SourceParams:
    return source_params(kind="api", base_url=server.url, backoff_seconds=0.01, timeout_seconds=5, **options)


def test_server_repeating_a_full_page_fails_at_the_second_page_naming_it(scripted):
    page = json.dumps([_row(i) for i in (1, 2, 3)])

    def reply(handler, path, query):  # ignores offset: the same full page forever (bounded for the old code)
        handler.send_body(page if handler.server.requests_seen <= 50 else "[]")

    server = scripted(reply)
    with pytest.raises(PaymentsApiError, match=r"GET http://127\.0\.0\.1:\d+/payments\?updated_at=.*offset=3: page 2 "):
        _client(server, page_size=3).fetch_payments(WINDOW["since"])
    assert server.requests_seen == 2


def test_page_whose_ids_go_back_fails(scripted):
    pages = [[_row(1), _row(2), _row(3)], [_row(2), _row(4), _row(5)], []]

    def reply(handler, path, query):
        handler.send_body(json.dumps(pages[min(int(query["offset"]) // 3, 2)]))

    with pytest.raises(PaymentsApiError, match=r"page 2 starts at id 2, before the last id 3 of page 1"):
        _client(scripted(reply), page_size=3).fetch_payments(WINDOW["since"])


def test_a_row_sent_twice_across_a_page_boundary_is_not_a_repeated_page(scripted):
    rows = [json.dumps(_row(i)) for i in (1, 2, 3, 3, 4, 5, 6)]
    got = _client(scripted(_paged(rows)), page_size=3).fetch_payments(WINDOW["since"])
    assert [row["id"] for row in got] == [1, 2, 3, 3, 4, 5, 6]


def test_endless_listing_stops_at_max_pages_and_logs_progress(scripted, caplog):
    def reply(handler, path, query):  # ids advance forever (bounded for the old code)
        offset, limit = int(query["offset"]), int(query["limit"])
        rows = [] if handler.server.requests_seen > 60 else [_row(offset + k + 1) for k in range(limit)]
        handler.send_body(json.dumps(rows))

    server = scripted(reply)
    caplog.set_level(logging.INFO, logger="cripto_platform.sources.payments_api")
    with pytest.raises(PaymentsApiError, match=r"/payments\?updated_at=.*: page 10 \(.*offset=18\) was still full "
                                               r"after max_pages=10 pages \(20 rows\)"):
        fetch_payments_batch(WINDOW, _api(server, page_size=2, max_pages=10, progress_every_pages=4), SAMPLE)
    assert server.requests_seen == 10
    progress = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "so far" in r.getMessage()]
    assert len(progress) == 2 and "4 pages, 8 rows so far" in progress[0] and "8 pages, 16 rows so far" in progress[1]


def test_trickled_reply_is_cut_by_the_whole_request_deadline(scripted):
    body = json.dumps([_row(1)]).encode()

    def reply(handler, path, query):  # one byte every 0.2 s: ~60 s for the whole body
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:  # the client hung up
            pass

    server = scripted(reply)
    started = time.monotonic()
    with pytest.raises(PaymentsApiError, match=r"/payments .*gave up after 2 attempts; last: DeadlineExceeded: "
                                               r"whole-request deadline of 0\.5s exceeded"):
        _client(server, max_retries=1, request_deadline_seconds=0.5).fetch_payments(WINDOW["since"])
    assert time.monotonic() - started < 3
    assert server.requests_seen == 2


def test_null_element_in_a_page_fails_naming_the_url_and_position(scripted):
    server = scripted(_paged([json.dumps(_row(1)), json.dumps(_row(2)), "null"]))
    with pytest.raises(PaymentsApiError, match=r"GET http://127\.0\.0\.1:\d+/payments\?updated_at=.*offset=0: "
                                               r"page 1, element 2 \(row 2\) is null, not a JSON object"):
        fetch_payments_batch(WINDOW, _api(server, page_size=10), SAMPLE)
    server = scripted(_paged([json.dumps(_row(i)) for i in (1, 2, 3)] + ["[7]"]))
    with pytest.raises(PaymentsApiError, match=r"offset=3: page 2, element 0 \(row 3\) is \[7\]"):
        _client(server, page_size=3).fetch_payments(WINDOW["since"])


def test_field_absent_from_every_row_fails_naming_it_and_the_url(scripted):
    rows = [_row(i) for i in range(1, 6)]
    for row in rows:
        del row["amount"]
    server = scripted(_paged([json.dumps(row) for row in rows]))
    with pytest.raises(PaymentsApiError, match=r"GET http://127\.0\.0\.1:\d+/payments\?updated_at=\S+: "
                                               r"field\(s\) \['amount'\] absent from all 5 rows"):
        fetch_payments_batch(WINDOW, _api(server, page_size=2), SAMPLE)


def test_field_absent_from_some_rows_quarantines_them_but_a_json_null_is_kept(scripted, caplog):
    rows = [_row(1), _row(2), _row(3, amount=None), _row(4)]
    del rows[1]["amount"]
    del rows[3]["status"], rows[3]["amount"]
    server = scripted(_paged([json.dumps(row) for row in rows]))
    raw = fetch_payments_batch(WINDOW, _api(server, page_size=3), SAMPLE)
    assert raw["missing_fields"].tolist()[1:] == ["amount", pd.NA, "status,amount"]
    valid, quarantine = validate_payments_batch(raw, COMPANY_ROWS)
    assert valid["id"].tolist() == [1, 3] and pd.isna(valid["amount"].iloc[1])  # JSON null: a NULL amount
    assert dict(zip(quarantine["id"], quarantine["quarantine_reason"])) == {
        "2": "missing field amount",
        "4": "missing field status; missing field amount",
    }
    assert "quarantined 2 of 4 payment rows" in caplog.text


def test_company_lacking_a_field_fails_naming_it(scripted):
    companies = [{"id": i, "company_code": f"C{i:04d}", "name": f"Company {i}", "category": "retail",
                  "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"} for i in (1, 2, 3)]
    del companies[2]["name"]
    server = scripted(_paged([json.dumps(row) for row in companies]))
    with pytest.raises(PaymentsApiError, match=r"GET http://127\.0\.0\.1:\d+/companies: rows lack fields: "
                                               r"name in 1 row\(s\) \(first at row 2\)"):
        fetch_companies(_api(server), SAMPLE)


def test_ids_beyond_int64_arrive_exact_and_are_quarantined(scripted):
    rows = [_row(1, payment_id=2**70), _row(2, payment_id=2**63 - 1), _row(2**64, payment_id=3), _row(2**64 + 1)]
    server = scripted(_paged([json.dumps(row) for row in rows]))
    raw = fetch_payments_batch(WINDOW, _api(server), SAMPLE)
    assert raw["payment_id"].tolist()[:2] == [str(2**70), str(2**63 - 1)]
    valid, quarantine = validate_payments_batch(raw, COMPANY_ROWS)
    assert valid["payment_id"].tolist() == [2**63 - 1]
    assert dict(zip(quarantine["id"], quarantine["quarantine_reason"])) == {
        "1": "payment_id out of range",
        str(2**64): "id out of range",
        str(2**64 + 1): "id out of range; payment_id out of range",
    }


def test_json_number_amounts_keep_their_digits_and_round_like_postgresql(scripted):
    amounts = ["1.005", "0.125", "-1.005", "12345678901.125", "2.675", "10"]
    rows = [json.dumps(_row(i + 1)).replace('"amount": "10.00"', f'"amount": {text}') for i, text in enumerate(amounts)]
    server = scripted(_paged(rows))
    raw = fetch_payments_batch(WINDOW, _api(server), SAMPLE)
    assert raw["amount"].tolist() == amounts  # the API's digits, not a float's repr
    valid, quarantine = validate_payments_batch(raw, COMPANY_ROWS)
    assert quarantine.empty
    assert valid["amount"].tolist() == [1.01, 0.13, -1.01, 12345678901.13, 2.68, 10.0]
