"""Seeded companies and payments, shaped like the seed's API (``/companies``, ``/payments``).

The payments are a deterministic *universe* defined as a function of time, so any window
``(since, until]`` of ``updated_at`` can be asked for, in any order, and always gives the same rows:

- payment ``p`` is created at ``origin + (p + u) / payments_per_day`` days (``u`` uniform in [0, 1));
- it then has up to ``max_events`` follow-up events within ``event_horizon_days``: a *change*
  (one of ``status``, ``amount``, ``payment_at``, ``external_client_id`` takes a new value) or a
  *repeat* (same values, newer ``updated_at``);
- every event is one API row with its own ``id`` (ordered like the seed's table), so a window that
  holds two events of one payment returns that payment twice (a duplicate inside the batch);
- a small share of rows is exactly duplicated, and a few are bad (null key, unparseable amount or
  date), as an outside API can send.

Every draw is a counter-based hash of ``(seed, payment, slot)``: vectorised, no per-row Python.
Values are sent as the seed's Node.js API sent them: ``amount`` as a string, timestamps as ISO text.

Who pays whom is planted so a recommender has something to learn (``planted_structure`` returns it):

- *companies*: company ``i``'s category is a hash of ``(seed, i)`` over ``CATEGORIES``; inside its
  category it has a popularity rank ``r`` (a hash order) and weight ``r ** -popularity_exponent``
  (Zipf), normalised per category;
- *segments*: ``n_segments`` latent client segments, each preferring a pair of categories that holds
  ``segment_focus`` of its preference mass, the rest spread evenly over the other categories (pairs
  in a hash-shuffled round robin: the first five segments split the ten categories, later ones
  overlap them, no two share a pair); a segment's company distribution is
  preference(category) x popularity(company);
- *clients*: client ``c`` has a segment (a hash of ``c``) and a fixed set of ``bills_min`` to
  ``bills_max`` distinct *bill* companies drawn from its segment's distribution (the monthly bills);
- *payments*: payment ``p`` belongs to client ``hash(p) * n_clients`` (so each client pays about
  ``payments_per_day * days / n_clients`` times); with probability ``1 - explore_share`` it pays one
  of that client's bills (a hash of ``p`` picks which, uniformly), else an *exploratory* company
  drawn from the segment's distribution, redrawn (up to 3 times) while it is one of its bills.

The company is fixed by the payment's creating client. The first version's ``external_client_id``
is that client, or NULL (8%); a later change of it (a correction) reassigns the payment to another
client, uniformly, or to NULL (8%), so measure the planted structure on first versions.
Per-company and per-client arrays are computed once per universe with numpy (and cached).
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

STATUSES = np.array(["pending", "approved", "rejected", "refunded", "chargeback"])
CATEGORIES = np.array([
    "utilities", "telecom", "retail", "transport", "insurance", "education",
    "healthcare", "streaming", "government", "finance",
])
PREFERRED_CATEGORIES = 2  # categories each segment prefers (a pair: see _category_pairs)
NULL_CLIENT_SHARE = 0.08  # versions whose external_client_id is NULL
EXPLORE_TRIES = 4  # exploratory draws until one is not a bill (after that the last draw stands)
PAYMENT_COLUMNS = [
    "id", "payment_id", "company_code", "external_client_id", "status", "amount",
    "payment_at", "created_at", "updated_at",
]
COMPANY_COLUMNS = ["id", "company_code", "name", "category", "created_at", "updated_at"]
EVENTS_PER_PAYMENT = 4  # id = payment * EVENTS_PER_PAYMENT + event (event 0 is the creation)
DAY_NS = 86_400 * 10**9


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread uint64 hash of each value."""
    z = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def _uniform(seed: int, payments: np.ndarray, slot: int) -> np.ndarray:
    """Uniform [0, 1) draws for ``(seed, payment, slot)``, the same on every call."""
    with np.errstate(over="ignore"):
        key = _mix(payments.astype(np.uint64) * np.uint64(1_000_003) + np.uint64(slot))
        key = _mix(key ^ _mix(np.array([seed], dtype=np.uint64)))
    return (key >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def company_codes(n_companies: int) -> np.ndarray:
    return np.array([f"C{i:04d}" for i in range(1, n_companies + 1)])


def client_ids(clients: np.ndarray) -> np.ndarray:
    return np.array([f"CL{n:06d}" for n in clients], dtype=object)


def _company_categories(n_companies: int, seed: int) -> np.ndarray:
    """Each company's index into ``CATEGORIES``: a hash of ``(seed, company)``."""
    return (_uniform(seed, np.arange(n_companies, dtype=np.int64), 903) * len(CATEGORIES)).astype(np.int64)


class _Universe(NamedTuple):
    """The planted structure as arrays (read-only: cached and shared between calls)."""

    category: np.ndarray       # (companies,) index into CATEGORIES
    category_rank: np.ndarray  # (companies,) 1 = the most popular of its category
    popularity: np.ndarray     # (companies,) Zipf weight, summing to 1 in each category
    preferred: np.ndarray      # (segments, PREFERRED_CATEGORIES) index into CATEGORIES
    preference: np.ndarray     # (segments, categories) each segment's preference, rows summing to 1
    mass: np.ndarray           # (segments, companies) a segment's distribution: preference x popularity
    flat_cdf: np.ndarray       # segment s's cumulative distribution shifted by s, all segments end to end
    segment: np.ndarray        # (clients,)
    bills: np.ndarray          # (clients, bills_max) bill company indices, -1 after the last
    n_bills: np.ndarray        # (clients,)


def _check_structure(n_companies, n_clients, n_segments, popularity_exponent, segment_focus, bills_min, bills_max,
                     explore_share) -> None:
    checks = {
        "n_companies": n_companies >= 1, "n_clients": n_clients >= 1, "n_segments": n_segments >= 1,
        "popularity_exponent": popularity_exponent >= 0, "segment_focus": 0 <= segment_focus <= 1,
        "bills_min": 1 <= bills_min <= bills_max, "bills_max": 1 <= bills_max <= 12,
        "explore_share": 0 <= explore_share <= 1,
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(
            f"sample data parameters out of range: {bad} (n_* >= 1, popularity_exponent >= 0, segment_focus and "
            f"explore_share in [0, 1], 1 <= bills_min <= bills_max <= 12)"
        )


@lru_cache(maxsize=8)
def _universe(seed: int, n_companies: int, n_clients: int, n_segments: int, popularity_exponent: float,
              segment_focus: float, bills_min: int, bills_max: int) -> _Universe:
    """Companies' categories and popularity, segments' preferences, clients' segments and bills."""
    companies = np.arange(n_companies, dtype=np.int64)
    n_categories = len(CATEGORIES)
    category = _company_categories(n_companies, seed)
    order = np.lexsort((_uniform(seed, companies, 904), category))  # a hash order inside each category
    starts = np.searchsorted(category[order], category[order], side="left")
    category_rank = np.empty(n_companies, dtype=np.int64)
    category_rank[order] = np.arange(n_companies) - starts + 1
    weight = category_rank.astype(np.float64) ** -float(popularity_exponent)
    popularity = weight / np.bincount(category, weights=weight, minlength=n_categories)[category]

    segments = np.arange(n_segments, dtype=np.int64)
    shuffled = np.argsort(_uniform(seed, np.arange(n_categories, dtype=np.int64), 910))  # categories in a hash order
    preferred = shuffled[_category_pairs(n_categories)[segments % (n_categories * (n_categories - 1) // 2)]]
    preference = np.full((n_segments, n_categories), (1 - segment_focus) / (n_categories - PREFERRED_CATEGORIES))
    np.put_along_axis(preference, preferred, segment_focus / PREFERRED_CATEGORIES, axis=1)
    mass = preference[:, category] * popularity
    empty = mass.sum(axis=1) == 0  # few companies: the preferred categories may have none
    mass[empty] = popularity
    mass /= mass.sum(axis=1, keepdims=True)
    cdf = np.cumsum(mass, axis=1)
    cdf[:, -1] = 1.0
    flat_cdf = (cdf + segments[:, None]).ravel()

    clients = np.arange(n_clients, dtype=np.int64)
    segment = (_uniform(seed, clients, 920) * n_segments).astype(np.int64)
    wanted = bills_min + (_uniform(seed, clients, 921) * (bills_max - bills_min + 1)).astype(np.int64)
    # Bills: the first `wanted` distinct companies of 4 * bills_max draws from the segment's distribution.
    tries = 4 * bills_max
    candidates = np.column_stack(
        [_draw_companies(flat_cdf, n_companies, segment, _uniform(seed, clients, 1000 + j)) for j in range(tries)]
    )
    fresh = np.ones(candidates.shape, dtype=bool)
    for j in range(1, tries):
        fresh[:, j] = (candidates[:, :j] != candidates[:, j : j + 1]).all(axis=1)
    position = np.cumsum(fresh, axis=1)
    keep = fresh & (position <= wanted[:, None])
    bills = np.full((n_clients, bills_max), -1, dtype=np.int64)
    rows, cols = np.nonzero(keep)
    bills[rows, position[rows, cols] - 1] = candidates[rows, cols]
    universe = _Universe(category, category_rank, popularity, preferred, preference, mass, flat_cdf, segment, bills,
                         keep.sum(axis=1))
    for array in universe:
        array.flags.writeable = False
    return universe


def _category_pairs(n: int) -> np.ndarray:
    """Every pair of ``n`` (even) categories once, in rounds that each cover all ``n`` (the circle method).

    Segment ``s`` prefers pair ``s``: the first ``n / 2`` segments split the categories between them,
    the next ones overlap them, and no two segments (up to ``n (n - 1) / 2``) prefer the same pair.
    """
    pairs = []
    for round_ in range(n - 1):
        pairs.append((round_, n - 1))
        pairs += [((round_ + i) % (n - 1), (round_ - i) % (n - 1)) for i in range(1, n // 2)]
    return np.array(pairs, dtype=np.int64)


def _draw_companies(flat_cdf: np.ndarray, n_companies: int, segment: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Companies drawn from each row's segment distribution, by inverse CDF (``draws`` uniform in [0, 1))."""
    found = np.searchsorted(flat_cdf, segment + draws, side="right") - segment * n_companies
    return np.minimum(found, n_companies - 1)


def _payment_companies(seed: int, payments: np.ndarray, universe: _Universe, n_clients: int,
                       explore_share: float) -> np.ndarray:
    """Each payment's company: one of its creating client's bills, or (explore_share) a new one."""
    n_companies = len(universe.category)
    client = (_column_value(seed, payments, 54, 0) * n_clients).astype(np.int64)
    own = universe.bills[client]
    pick = (_uniform(seed, payments, 61) * universe.n_bills[client]).astype(np.int64)
    company = own[np.arange(len(payments)), pick]
    explore = _uniform(seed, payments, 62) < explore_share
    if explore.any():
        segment, own, which = universe.segment[client[explore]], own[explore], payments[explore]
        chosen = _draw_companies(universe.flat_cdf, n_companies, segment, _uniform(seed, which, 63))
        for attempt in range(1, EXPLORE_TRIES):
            is_bill = (own == chosen[:, None]).any(axis=1)
            if not is_bill.any():
                break
            retry = _draw_companies(universe.flat_cdf, n_companies, segment, _uniform(seed, which, 63 + attempt))
            chosen = np.where(is_bill, retry, chosen)
        company[explore] = chosen
    return company


def planted_structure(
    n_clients: int = 5000,
    n_companies: int = 300,
    seed: int = 7,
    *,
    n_segments: int = 8,
    popularity_exponent: float = 1.1,
    segment_focus: float = 0.8,
    bills_min: int = 2,
    bills_max: int = 6,
    explore_share: float = 0.15,
    **generator: Any,
) -> dict[str, Any]:
    """The truth planted in the generated payments, to judge a recommender or a test against.

    ``companies``: ``company_code``, ``category``, ``category_rank`` (1 = most popular in its
    category), ``popularity`` (Zipf share inside its category), ``share`` (its weight in the mix of
    all clients' segment distributions) and ``popularity_rank`` (1 = largest ``share``);
    ``segments``: ``segment``, ``preferred_categories``, ``n_clients``; ``category_preference``: one
    row per segment, one column per category; ``clients``: ``external_client_id``, ``segment`` and
    ``bills`` (company codes); ``explore_share``. The other parameters of ``generate_payments``
    (``origin``, ``payments_per_day``, ...) are accepted and ignored, so one dict serves both.
    """
    unknown = sorted(set(generator) - set(_GENERATOR_PARAMETERS))
    if unknown:
        raise TypeError(f"planted_structure() got unexpected parameters {unknown}")
    _check_structure(n_companies, n_clients, n_segments, popularity_exponent, segment_focus, bills_min, bills_max,
                     explore_share)
    universe = _universe(int(seed), int(n_companies), int(n_clients), int(n_segments), float(popularity_exponent),
                         float(segment_focus), int(bills_min), int(bills_max))
    codes = company_codes(n_companies)
    sizes = np.bincount(universe.segment, minlength=n_segments)
    share = sizes @ universe.mass / n_clients
    companies = pd.DataFrame({
        "company_code": codes,
        "category": CATEGORIES[universe.category],
        "category_rank": universe.category_rank,
        "popularity": universe.popularity,
        "share": share,
    })
    companies["popularity_rank"] = companies["share"].rank(ascending=False, method="first").astype(np.int64)
    bills = [codes[row[row >= 0]].tolist() for row in universe.bills]  # per client, once: not per payment
    return {
        "companies": companies,
        "segments": pd.DataFrame({
            "segment": np.arange(n_segments),
            "preferred_categories": [CATEGORIES[np.sort(row)].tolist() for row in universe.preferred],
            "n_clients": sizes,
        }),
        "category_preference": pd.DataFrame(universe.preference, columns=CATEGORIES.tolist()),
        "clients": pd.DataFrame({
            "external_client_id": client_ids(np.arange(n_clients)),
            "segment": universe.segment,
            "bills": bills,
        }),
        "explore_share": float(explore_share),
    }


def generate_companies(n_companies: int, seed: int, origin: str) -> pd.DataFrame:
    """The companies dimension as the API's ``/companies`` returns it, ordered by ``id``."""
    index = np.arange(n_companies, dtype=np.int64)
    codes = company_codes(n_companies)
    created = pd.Timestamp(origin, tz="UTC") - pd.to_timedelta(
        (_uniform(seed, index, 901) * 365 * DAY_NS).astype(np.int64), unit="ns"
    )
    updated = created + pd.to_timedelta((_uniform(seed, index, 902) * 30 * DAY_NS).astype(np.int64), unit="ns")
    return pd.DataFrame(
        {
            "id": index + 1,
            "company_code": codes,
            "name": [f"Company {code[1:]}" for code in codes],
            "category": CATEGORIES[_company_categories(n_companies, seed)],
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    )


def _column_value(seed, payments, column_slot, version):
    """Draw for one compared column at its ``version`` (how many changes touched it)."""
    return _uniform(seed, payments * 16 + version, column_slot)


def generate_payments(
    since: str | pd.Timestamp,
    until: str | pd.Timestamp,
    *,
    seed: int = 7,
    origin: str = "2024-01-01",
    payments_per_day: float = 500.0,
    n_companies: int = 300,
    n_clients: int = 5000,
    event_probability: float = 0.35,
    change_share: float = 0.6,
    event_horizon_days: float = 10.0,
    duplicate_fraction: float = 0.01,
    invalid_fraction: float = 0.002,
    n_segments: int = 8,
    popularity_exponent: float = 1.1,
    segment_focus: float = 0.8,
    bills_min: int = 2,
    bills_max: int = 6,
    explore_share: float = 0.15,
) -> pd.DataFrame:
    """Every payment event with ``since < updated_at <= until``, ordered by ``id``."""
    _check_structure(n_companies, n_clients, n_segments, popularity_exponent, segment_focus, bills_min, bills_max,
                     explore_share)
    origin_ts = pd.Timestamp(origin, tz="UTC")
    since_ts, until_ts = _utc(since), _utc(until)
    if until_ts <= since_ts:
        return pd.DataFrame({column: pd.Series(dtype="object") for column in PAYMENT_COLUMNS})
    since_days = (since_ts - origin_ts) / pd.Timedelta(days=1)
    until_days = (until_ts - origin_ts) / pd.Timedelta(days=1)
    first = max(0, int(np.floor((since_days - event_horizon_days) * payments_per_day)) - 1)
    last = max(0, int(np.ceil(until_days * payments_per_day)) + 1)
    payments = np.arange(first, last, dtype=np.int64)
    created_days = (payments + _uniform(seed, payments, 0)) / payments_per_day

    # Event 0 creates; events 1..3 happen with event_probability each, at increasing offsets.
    offsets = np.cumsum(
        _stack(lambda j: _uniform(seed, payments, 10 + j) * event_horizon_days / (EVENTS_PER_PAYMENT - 1)), axis=0
    )
    happens = _stack(lambda j: _uniform(seed, payments, 20 + j) < event_probability)
    changes = happens & _stack(lambda j: _uniform(seed, payments, 30 + j) < change_share)
    # Which compared column each change touches: 0 status, 1 amount, 2 payment_at, 3 external_client_id.
    touched = _stack(lambda j: (_uniform(seed, payments, 40 + j) * 4).astype(int))

    universe = _universe(int(seed), int(n_companies), int(n_clients), int(n_segments), float(popularity_exponent),
                         float(segment_focus), int(bills_min), int(bills_max))
    companies = _payment_companies(seed, payments, universe, n_clients, explore_share)

    frames = []
    versions = np.zeros((4, len(payments)), dtype=np.int64)  # per column: changes so far
    for event in range(EVENTS_PER_PAYMENT):
        if event == 0:
            event_days, present = created_days, np.ones(len(payments), dtype=bool)
        else:
            row = event - 1
            present = happens[row]
            for column in range(4):
                versions[column] += changes[row] & (touched[row] == column)
            event_days = created_days + offsets[row]
        in_window = present & (event_days > since_days) & (event_days <= until_days)
        if not in_window.any():
            continue
        picked = payments[in_window]
        v = versions[:, in_window]
        frames.append(
            _event_rows(seed, picked, event, created_days[in_window], event_days[in_window], v,
                        origin_ts, companies[in_window], n_companies, n_clients)
        )
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype="object") for column in PAYMENT_COLUMNS})
    batch = pd.concat(frames, ignore_index=True)
    batch = _add_duplicates_and_bad_rows(batch, seed, duplicate_fraction, invalid_fraction)
    return batch.sort_values("id", kind="stable").reset_index(drop=True)[PAYMENT_COLUMNS]


def _stack(draw) -> np.ndarray:
    return np.vstack([draw(j) for j in range(1, EVENTS_PER_PAYMENT)])


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _iso(origin: pd.Timestamp, days: np.ndarray) -> pd.Index:
    # Microsecond precision, as PostgreSQL timestamps and the seed's JSON carry them.
    stamps = origin + pd.to_timedelta(np.round(days * DAY_NS / 1000).astype(np.int64) * 1000, unit="ns")
    return stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event_rows(seed, payments, event, created_days, event_days, versions, origin, companies, n_companies,
                n_clients):
    status = STATUSES[(_column_value(seed, payments, 50, versions[0]) * len(STATUSES)).astype(int)]
    amount = np.round(5 + _column_value(seed, payments, 51, versions[1]) * 995, 2)
    payment_days = created_days + _column_value(seed, payments, 52, versions[2]) * 3
    # Version 0 is the creating client (the one whose bills chose the company); a change reassigns.
    client = client_ids((_column_value(seed, payments, 54, versions[3]) * n_clients).astype(np.int64))
    client[_column_value(seed, payments, 53, versions[3]) < NULL_CLIENT_SHARE] = None  # NULL <-> value: changes
    return pd.DataFrame(
        {
            "id": payments * EVENTS_PER_PAYMENT + event + 1,
            "payment_id": payments + 1,
            "company_code": company_codes(n_companies)[companies],
            "external_client_id": client,
            "status": status,
            "amount": [f"{value:.2f}" for value in amount],
            "payment_at": _iso(origin, payment_days),
            "created_at": _iso(origin, created_days),
            "updated_at": _iso(origin, event_days),
        }
    )


def _add_duplicates_and_bad_rows(batch, seed, duplicate_fraction, invalid_fraction) -> pd.DataFrame:
    ids = batch["id"].to_numpy()
    batch = batch.astype({"payment_id": "object"})
    duplicates = batch[_uniform(seed, ids, 70) < duplicate_fraction]  # the API sending a row twice
    draw = _uniform(seed, ids, 71)
    bad = draw < invalid_fraction
    kind = (_uniform(seed, ids, 72) * 3).astype(int)
    batch.loc[bad & (kind == 0), "payment_id"] = None
    batch.loc[bad & (kind == 1), "amount"] = "12,50 ARS"
    batch.loc[bad & (kind == 2), "payment_at"] = "31/02/2024 25:61"
    return pd.concat([batch, duplicates], ignore_index=True)


_GENERATOR_PARAMETERS = tuple(inspect.signature(generate_payments).parameters)  # planted_structure accepts them
