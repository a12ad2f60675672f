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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATUSES = np.array(["pending", "approved", "rejected", "refunded", "chargeback"])
CATEGORIES = np.array(["utilities", "telecom", "retail", "transport", "insurance", "education"])
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
            "category": CATEGORIES[(_uniform(seed, index, 903) * len(CATEGORIES)).astype(int)],
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
    n_companies: int = 40,
    n_clients: int = 5000,
    event_probability: float = 0.35,
    change_share: float = 0.6,
    event_horizon_days: float = 10.0,
    duplicate_fraction: float = 0.01,
    invalid_fraction: float = 0.002,
) -> pd.DataFrame:
    """Every payment event with ``since < updated_at <= until``, ordered by ``id``."""
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
                        origin_ts, n_companies, n_clients)
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


def _event_rows(seed, payments, event, created_days, event_days, versions, origin, n_companies, n_clients):
    status = STATUSES[(_column_value(seed, payments, 50, versions[0]) * len(STATUSES)).astype(int)]
    amount = np.round(5 + _column_value(seed, payments, 51, versions[1]) * 995, 2)
    payment_days = created_days + _column_value(seed, payments, 52, versions[2]) * 3
    client_draw = _column_value(seed, payments, 53, versions[3])
    client = pd.Series([f"CL{n:06d}" for n in (client_draw * n_clients).astype(int)], dtype="object")
    client[client_draw < 0.08] = None  # NULL clients: NULL -> value and value -> NULL are changes
    company = company_codes(n_companies)[(_uniform(seed, payments, 60) * n_companies).astype(int)]
    return pd.DataFrame(
        {
            "id": payments * EVENTS_PER_PAYMENT + event + 1,
            "payment_id": payments + 1,
            "company_code": company,
            "external_client_id": client.to_numpy(),
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
