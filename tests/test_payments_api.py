"""The payments API client against the shipped server on 127.0.0.1 (real HTTP, real sockets)."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from cripto_platform.pipelines.payments.nodes import fetch_companies, fetch_payments_batch
from cripto_platform.sources.payments import generate_companies, generate_payments
from cripto_platform.sources.payments_api import (
    PaymentsApiClient,
    PaymentsApiError,
    PaymentsApiServer,
    serve_in_thread,
)

NOW = "2026-03-01T00:00:00+00:00"
GENERATOR = {"seed": 11, "origin": "2026-01-01", "payments_per_day": 40, "n_companies": 7}


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
    source = {"kind": "api", "base_url": server.url, "page_size": 50, "backoff_seconds": 0.01}
    window = {"since": "2026-02-25T00:00:00+00:00", "until": NOW}
    from_api = fetch_payments_batch(window, source, GENERATOR)
    from_generator = fetch_payments_batch(window, {"kind": "generator"}, GENERATOR)
    pd.testing.assert_frame_equal(from_api, from_generator)
    assert from_api["payment_id"].isna().sum() == from_generator["payment_id"].isna().sum()
    pd.testing.assert_frame_equal(fetch_companies(source, GENERATOR), fetch_companies({"kind": "generator"}, GENERATOR))


def test_base_url_from_credentials_when_the_parameter_is_null(make_server):
    server = make_server()
    window = {"since": "2026-02-27T00:00:00+00:00", "until": NOW}
    rows = fetch_payments_batch(window, {"kind": "api", "base_url": None, "backoff_seconds": 0.01}, GENERATOR,
                                {"base_url": server.url})
    assert len(rows) > 0 and server.requests_seen >= 1
    with pytest.raises(ValueError, match=r"no base URL: set payments.source.base_url or .*CRIPTO_PAYMENTS_API_URL"):
        fetch_companies({"kind": "api", "base_url": None}, GENERATOR, {"base_url": None})
