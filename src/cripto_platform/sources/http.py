"""One retry rule for every outside HTTP source (the payments API, the exchange)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests
import urllib3

logger = logging.getLogger(__name__)

# Answers worth asking again: rate limits (429, and Binance's 418 ban) and server errors.
RATE_LIMITED = frozenset({418, 429})


class DeadlineExceeded(Exception):
    """A reply took longer than its whole-request deadline (a trickling body, or a stalled one)."""


CHUNK_BYTES = 64 * 1024


def read_body_within(response: requests.Response, deadline_at: float, deadline: float) -> None:
    """Read a streamed response's whole body, checking ``deadline_at`` (``time.monotonic()``) between reads.

    ``read1`` returns whatever one socket read brings, so a body trickled a byte at a time is checked
    after every byte; each read still waits at most the per-read timeout. The body is kept as
    ``response.content`` (requests' own cache), so ``.text``/``.json()`` work as usual.
    """
    body = bytearray()
    try:
        while True:
            if time.monotonic() > deadline_at:
                raise DeadlineExceeded(
                    f"whole-request deadline of {deadline:g}s exceeded after {len(body)} body bytes"
                )
            chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            body += chunk
    except BaseException:
        response.close()  # a half-read connection must not go back to the pool
        raise
    response._content = bytes(body)  # requests' cache of the body (what .content fills)
    response._content_consumed = True
    response.close()  # the body is read to the end: hands the connection back to the pool


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
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response:
    """GET ``url``; retry connection errors, timeouts, 429/418 and 5xx with exponential backoff.

    The n-th retry waits ``backoff_seconds * 2**(n-1)`` (at least ``Retry-After`` when rate
    limited). Any other 4xx raises ``error`` at once; so does the last failed attempt, naming
    ``source``, the URL, the attempts and the last problem.

    ``timeout`` bounds each socket operation (connect, each read). ``deadline`` (seconds, None: no
    limit) bounds one whole attempt, body included: the body is streamed and the clock checked between
    reads, so a server trickling its reply cannot hold the run (an overrun counts as a timeout and is
    retried). The check runs while the body is read: headers trickled byte by byte are bounded only
    by ``timeout`` per read.
    """
    last_problem = ""
    for attempt in range(max_retries + 1):
        delay = backoff_seconds * 2**attempt
        try:
            if deadline is None:
                response = session.get(url, params=params, timeout=timeout)
            else:
                deadline_at = time.monotonic() + deadline
                response = session.get(url, params=params, timeout=min(timeout, deadline), stream=True)
                read_body_within(response, deadline_at, deadline)
        except (requests.ConnectionError, requests.Timeout, DeadlineExceeded) as failure:
            last_problem = f"{type(failure).__name__}: {failure}"
        except (urllib3.exceptions.HTTPError, OSError) as failure:  # raised by the streamed reads
            last_problem = f"{type(failure).__name__} while reading the body: {failure}"
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
