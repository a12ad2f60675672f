"""One retry rule for every outside HTTP source (the payments API, the exchange)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

logger = logging.getLogger(__name__)

# Answers worth asking again: rate limits (429, and Binance's 418 ban) and server errors.
RATE_LIMITED = frozenset({418, 429})


def get_with_retries(
    session: requests.Session,
    url: str,
    params: dict[str, Any],
    *,
    source: str,
    error: type[Exception],
    timeout: float,
    max_retries: int,
    backoff_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response:
    """GET ``url``; retry connection errors, timeouts, 429/418 and 5xx with exponential backoff.

    The n-th retry waits ``backoff_seconds * 2**(n-1)`` (at least ``Retry-After`` when rate
    limited). Any other 4xx raises ``error`` at once; so does the last failed attempt, naming
    ``source``, the URL, the attempts and the last problem.
    """
    last_problem = ""
    for attempt in range(max_retries + 1):
        delay = backoff_seconds * 2**attempt
        try:
            response = session.get(url, params=params, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as failure:
            last_problem = f"{type(failure).__name__}: {failure}"
        else:
            if response.status_code < 400:
                return response
            last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code in RATE_LIMITED:
                delay = max(delay, float(response.headers.get("Retry-After") or 0))
            elif response.status_code < 500:
                raise error(f"{source} GET {response.url} refused: {last_problem}")
        if attempt < max_retries:
            logger.warning("%s GET %s %s: %s; retry %d/%d in %.2fs",
                           source, url, params, last_problem, attempt + 1, max_retries, delay)
            sleep(delay)
    raise error(
        f"{source} GET {url} {params}: gave up after {max_retries + 1} attempts; last: {last_problem}"
    )


def serve_until_interrupted(server) -> None:
    """Run a local protocol server in the foreground until Ctrl-C, then close its socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
