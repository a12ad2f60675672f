"""The Binance klines client (``sources/exchange.py``) against the shipped local exchange server."""

import json
import socket

import pytest

from cripto_platform.sources.exchange import (
    ExchangeError,
    GeneratedExchange,
    GeneratedKlinesClient,
    KlinesClient,
    start_server,
    to_ms,
)

pytestmark = pytest.mark.integration  # real HTTP servers and sockets on 127.0.0.1


@pytest.fixture
def exchange_server():
    server = start_server(GeneratedExchange(listed_from="2024-01-01", until="2024-04-10", missing_fraction=0.0))
    yield server
    server.shutdown()
    server.server_close()


def test_client_paginates_over_time(exchange_server):
    client = KlinesClient(exchange_server.url, limit=30, backoff_seconds=0)
    pages = client.fetch("BTCUSDT", to_ms("2024-01-01"), to_ms("2024-03-31"))
    rows = [row for page in pages for row in json.loads(page["body"])]
    assert [page["rows"] for page in pages] == [30, 30, 30, 1]
    assert len(rows) == 91 and rows[0][0] == to_ms("2024-01-01") and rows[-1][0] == to_ms("2024-03-31")
    starts = [int(q["startTime"]) for q in exchange_server.requests]
    assert starts == [to_ms("2024-01-01") + i * 30 * 86_400_000 for i in range(4)]


def test_client_retries_5xx_and_429_then_succeeds(exchange_server):
    exchange_server.fail_next = [503, 429, 500]
    sleeps = []
    client = KlinesClient(exchange_server.url, backoff_seconds=0.01, max_retries=4, sleep=sleeps.append)
    pages = client.fetch("ETHUSDT", to_ms("2024-01-01"), to_ms("2024-01-10"))
    assert sum(page["rows"] for page in pages) == 10
    assert len(exchange_server.requests) == 4
    assert sleeps == [0.01, 0.02, 0.04]  # exponential backoff


def test_client_gives_up_after_max_retries(exchange_server):
    exchange_server.fail_next = [503] * 5
    client = KlinesClient(exchange_server.url, backoff_seconds=0, max_retries=2)
    with pytest.raises(ExchangeError, match="gave up after 3 attempts; last: HTTP 503"):
        client.fetch("ETHUSDT", to_ms("2024-01-01"), to_ms("2024-01-10"))


def test_client_does_not_retry_a_refusal(exchange_server):
    client = KlinesClient(exchange_server.url, backoff_seconds=0)
    with pytest.raises(ExchangeError, match="Invalid symbol"):
        client.fetch("NOPEUSDT", to_ms("2024-01-01"), to_ms("2024-01-10"))
    assert len(exchange_server.requests) == 1


def test_client_retries_connection_errors():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = []
    client = KlinesClient(f"http://127.0.0.1:{port}", timeout=1, max_retries=2, backoff_seconds=0.01, sleep=sleeps.append)
    with pytest.raises(ExchangeError, match="ConnectionError"):
        client.fetch("BTCUSDT", 0, 10)
    assert sleeps == [0.01, 0.02]  # three attempts, two waits


def test_generated_client_answers_like_the_server(exchange_server):
    over_http = KlinesClient(exchange_server.url, limit=40).fetch("SOLUSDT", to_ms("2024-02-01"), to_ms("2024-03-15"))
    in_process = GeneratedKlinesClient(exchange_server.exchange, limit=40).fetch("SOLUSDT", to_ms("2024-02-01"), to_ms("2024-03-15"))
    assert [p["body"] for p in over_http] == [p["body"] for p in in_process]


def test_server_serves_only_closed_candles(exchange_server):
    pages = KlinesClient(exchange_server.url).fetch("BTCUSDT", to_ms("2024-04-01"), to_ms("2024-05-01"))
    last = json.loads(pages[-1]["body"])[-1]
    assert last[0] == to_ms("2024-04-09")  # until=2024-04-10: the 10th is not closed yet
