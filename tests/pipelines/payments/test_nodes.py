"""Payments nodes called directly: bucket check, window, validation and quarantine, dedup, index, generator."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from kedro.io import DatasetError
from pydantic import ValidationError

from cripto_platform.datasets import LandingBucketDataset
from cripto_platform.pipelines.payments import nodes
from tests.pipelines.payments.params import payments_params
from cripto_platform.sources.payments import generate_payments

RUN = {"run_id": "r1", "started_at": "2026-03-01T12:00:00+00:00", "save_version": "v"}


PARAMS = payments_params()


def window_of(watermark: dict, params: SimpleNamespace = PARAMS) -> dict:
    return nodes.compute_payments_window(watermark, params.window, RUN)


def _raw(**overrides) -> pd.DataFrame:
    row = {"id": "1", "payment_id": "10", "company_code": "C0001", "external_client_id": "CL1", "status": "approved",
           "amount": "12.50", "payment_at": "2026-02-01T10:00:00.000000Z", "created_at": "2026-02-01T09:00:00.000000Z",
           "updated_at": "2026-02-02T09:00:00.000000Z"}
    row.update(overrides)
    return pd.DataFrame([row]).astype("string")


COMPANIES = pd.DataFrame({"company_code": ["C0001", "C0002"]})


def test_window_without_watermark_looks_back_lookback_days():
    window = window_of({"name": "payments", "last_update": None}, PARAMS)
    assert window["since"] == "2026-01-30T12:00:00+00:00"
    assert window["until"] == window["effective_at"] == RUN["started_at"]
    assert window["process_date"] == "2026-03-01"


def test_window_starts_at_the_watermark_and_honours_process_time():
    params = payments_params(**{"window.process_time": "2026-03-05T00:00:00Z"})
    window = window_of({"name": "payments", "last_update": "2026-03-01T00:00:00+00:00"}, params)
    assert (window["since"], window["until"]) == ("2026-03-01T00:00:00+00:00", "2026-03-05T00:00:00+00:00")
    assert window["batch_id"] == "2026-03-01T00:00:00+00:00/2026-03-05T00:00:00+00:00"


def test_future_watermark_is_an_error_naming_it():
    watermark = {"name": "payments", "table": "etl_watermarks", "last_update": "2026-04-01T00:00:00+00:00"}
    with pytest.raises(ValueError, match=r"watermark 'payments' in table 'etl_watermarks' is 2026-04-01T00:00:00\+00:00, "
                                         r"after the process time 2026-03-01T12:00:00\+00:00"):
        window_of(watermark, PARAMS)


def test_landing_bucket_is_created_only_when_allowed(tmp_path):
    """payments_landing_bucket: saving the node's request makes sure the bucket exists; loading says whether it does."""
    missing = LandingBucketDataset(path=str(tmp_path / "bucket"))
    assert missing.load()["exists"] is False
    refused = nodes.ensure_landing_bucket(payments_params(**{"landing.create_bucket_if_missing": False}).landing)
    assert refused == {"create_if_missing": False}
    with pytest.raises(DatasetError, match=rf"landing bucket '{tmp_path / 'bucket'}' does not exist.*create_bucket_if_missing"):
        missing.save(refused)
    assert not (tmp_path / "bucket").exists()
    missing.save(nodes.ensure_landing_bucket(payments_params(**{"landing.create_bucket_if_missing": True}).landing))
    assert (tmp_path / "bucket").is_dir() and missing.load()["exists"] is True
    missing.save(refused)  # an existing bucket satisfies any request


def test_validation_quarantines_with_reasons_and_keeps_good_rows():
    raw = pd.concat(
        [
            _raw(),
            _raw(id="2", payment_id=None),
            _raw(id="3", amount="12,50 ARS"),
            _raw(id="4", payment_at="31/02/2024 25:61"),
            _raw(id="5", company_code="C9999"),
            _raw(id="6", payment_id="abc", amount="x"),
            _raw(id="7", external_client_id=None, amount=None),  # NULLs in compared columns are fine
            _raw(id="8", amount="1e12"),  # beyond numeric(14, 2)
            _raw(id="9", amount="-inf"),
        ],
        ignore_index=True,
    )
    valid, quarantine = nodes.validate_payments_batch(raw, COMPANIES)
    assert valid["id"].tolist() == [1, 7]
    assert valid["amount"].iloc[0] == 12.5 and pd.isna(valid["amount"].iloc[1])
    reasons = dict(zip(quarantine["id"], quarantine["quarantine_reason"]))
    assert reasons == {
        "2": "null key payment_id",
        "3": "unparseable amount",
        "4": "unparseable payment_at",
        "5": "unknown company_code",
        "6": "unparseable payment_id; unparseable amount",
        "8": "amount out of range",
        "9": "amount out of range",
    }
    assert quarantine["amount"].tolist()[1] == "12,50 ARS"  # the row is kept as received
    stamped = nodes.stamp_payments_quarantine(quarantine, RUN)
    assert (stamped["run_id"] == "r1").all()


def test_validation_names_missing_columns():
    with pytest.raises(ValueError, match=r"'payments_batch_raw' lacks columns \['amount'\]"):
        nodes.validate_payments_batch(_raw().drop(columns="amount"), COMPANIES)


def test_ids_beyond_int64_are_quarantined_not_wrapped():
    raw = pd.concat(
        [
            _raw(id="1", payment_id=str(2**70)),
            _raw(id="2", payment_id="9223372036854775807"),  # the largest int64: kept exactly
            _raw(id="3", payment_id="-9223372036854775809"),
            _raw(id="18446744073709551616", payment_id="11"),
            _raw(id="5", payment_id="12.0"),
            _raw(id="x", payment_id="13"),
        ],
        ignore_index=True,
    )
    valid, quarantine = nodes.validate_payments_batch(raw, COMPANIES)
    assert valid["payment_id"].tolist() == [2**63 - 1, 12] and valid["id"].tolist() == [2, 5]
    assert dict(zip(quarantine["id"], quarantine["quarantine_reason"])) == {
        "1": "payment_id out of range",
        "3": "payment_id out of range",
        "18446744073709551616": "id out of range",
        "x": "unparseable id",
    }


def test_amounts_round_half_away_from_zero_like_postgresql_numeric():
    from cripto_platform.warehouse.scd2 import _cents

    texts = ["1.005", "0.125", "-1.005", "2.675", "1.00499999999999999", "-0.125", "999999999999.994", "1E+2", " 7.5 "]
    raw = pd.concat([_raw(id=str(i), amount=text) for i, text in enumerate(texts)], ignore_index=True)
    valid, quarantine = nodes.validate_payments_batch(raw, COMPANIES)
    assert quarantine.empty
    assert valid["amount"].tolist() == [1.01, 0.13, -1.01, 2.68, 1.0, -0.13, 999999999999.99, 100.0, 7.5]
    cents, _ = _cents(valid["amount"])  # what the merge stores in numeric(14, 2)
    assert cents.tolist() == [101, 13, -101, 268, 100, -13, 99999999999999, 10000, 750]
    too_big = nodes.validate_payments_batch(_raw(amount="999999999999.995"), COMPANIES)[1]
    assert too_big["quarantine_reason"].tolist() == ["amount out of range"]  # rounds to 10^12


def test_amount_rounding_agrees_with_python_decimal_on_many_values():
    from decimal import ROUND_HALF_UP, Decimal

    import numpy as np

    rng = np.random.default_rng(5)
    mills = np.concatenate([rng.integers(-10**14, 10**14, 20_000), np.arange(-5_000, 5_000)])
    texts = [str(Decimal(int(m)).scaleb(-3)) for m in mills]
    raw = pd.concat([_raw()] * len(texts), ignore_index=True).assign(amount=pd.Series(texts, dtype="string"))
    valid, quarantine = nodes.validate_payments_batch(raw, COMPANIES)
    assert quarantine.empty
    expected = [float(Decimal(t).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) for t in texts]  # half away from 0
    assert valid["amount"].tolist() == expected


def test_rows_whose_json_lacked_a_field_are_quarantined_naming_it():
    raw = pd.concat([_raw(id="1"), _raw(id="2", amount=None), _raw(id="3", amount=None),
                     _raw(id="4", payment_id=None, status=None)], ignore_index=True)
    raw["missing_fields"] = pd.Series([None, None, "amount", "payment_id,status"], dtype="string")
    valid, quarantine = nodes.validate_payments_batch(raw, COMPANIES)
    assert valid["id"].tolist() == [1, 2]  # a JSON null amount is a NULL amount, not a missing field
    assert dict(zip(quarantine["id"], quarantine["quarantine_reason"])) == {
        "3": "missing field amount",
        "4": "missing field payment_id; missing field status; null key payment_id",
    }
    assert quarantine["missing_fields"].tolist() == ["amount", "payment_id,status"]


@pytest.mark.integration
def test_amount_rounding_matches_postgresql_numeric(warehouse_engine):
    from sqlalchemy import text

    texts = ["1.005", "0.125", "-1.005", "2.675", "-0.125", "0.005", "-0.005", "123456789.995", "1.00499999999999999",
             "1E+2", "999999999999.994", "0.0049999", "-2.345"]
    with warehouse_engine.connect() as connection:
        rounded = connection.execute(
            text("SELECT round(CAST(t AS numeric), 2)::float8 FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY u(t, n) "
                 "ORDER BY n"), {"texts": texts}).scalars().all()
    raw = pd.concat([_raw()] * len(texts), ignore_index=True).assign(amount=pd.Series(texts, dtype="string"))
    valid, quarantine = nodes.validate_payments_batch(raw, COMPANIES)
    assert quarantine.empty and valid["amount"].tolist() == rounded


def test_duplicates_resolve_to_latest_updated_at_then_highest_id_whatever_the_order():
    raw = pd.concat(
        [
            _raw(id="1", status="old", updated_at="2026-02-01T00:00:00Z"),
            _raw(id="3", status="latest", updated_at="2026-02-03T00:00:00Z"),
            _raw(id="2", status="tie-low-id", updated_at="2026-02-04T00:00:00Z"),
            _raw(id="5", status="tie-high-id", updated_at="2026-02-04T00:00:00Z"),
            _raw(id="9", payment_id="11", status="alone"),
        ],
        ignore_index=True,
    )
    valid, _ = nodes.validate_payments_batch(raw, COMPANIES)
    for shuffled in (valid, valid.iloc[::-1], valid.sample(frac=1, random_state=3)):
        batch, duplicates = nodes.deduplicate_payments(shuffled)
        assert duplicates == 3
        assert dict(zip(batch["payment_id"], batch["status"])) == {10: "tie-high-id", 11: "alone"}


def test_merge_request_carries_counts_and_rejects_bad_missing_keys():
    window = {"batch_id": "b", "effective_at": "2026-03-01T00:00:00+00:00", "until": "2026-03-01T00:00:00+00:00",
              "since": "1970-01-01T00:00:00+00:00", "full_extract": True}
    merge = payments_params(**{"merge.missing_keys": "invalidate"}).merge
    request = nodes.build_payments_merge(pd.DataFrame(), window, merge, RUN, _raw(), 4)
    assert (request["missing_keys"], request["duplicates"], request["quarantined"], request["watermark"]) == (
        "invalidate", 4, 1, window["until"])
    assert request["max_invalidated_share"] == merge.max_invalidated_share
    with pytest.raises(ValidationError, match="missing_keys"):
        payments_params(**{"merge.missing_keys": "drop"})


def test_invalidation_is_refused_on_an_incremental_batch():
    """Issue 9: missing_keys=invalidate after an empty incremental window closed every current payment."""
    window = window_of(
        {"name": "payments", "last_update": "2026-02-28T00:00:00+00:00"}, PARAMS)
    assert window["full_extract"] is False
    merge = payments_params(**{"merge.missing_keys": "invalidate"}).merge
    with pytest.raises(ValueError, match=r"invalidate .* this batch is incremental .*payments.window.full_extract=true"):
        nodes.build_payments_merge(pd.DataFrame(), window, merge, RUN, _raw(), 0)
    full = window_of(
        {"name": "payments", "last_update": "2026-02-28T00:00:00+00:00"},
        payments_params(**{"window.full_extract": True}))
    assert full["full_extract"] is True and full["since"] == "1970-01-01T00:00:00+00:00"
    assert nodes.build_payments_merge(pd.DataFrame(), full, merge, RUN, _raw(), 0)["missing_keys"] == "invalidate"
    override = payments_params(**{"merge.missing_keys": "invalidate", "merge.allow_mass_invalidation": True}).merge
    assert nodes.build_payments_merge(pd.DataFrame(), full, override, RUN, _raw(), 0)["max_invalidated_share"] is None


def test_replay_window_starts_at_window_since_and_keeps_the_process_time():
    params = payments_params(**{"window.since": "2026-02-01T00:00:00Z", "window.process_time": "2026-03-05T00:00:00Z"})
    window = window_of({"name": "payments", "last_update": "2026-03-01T00:00:00+00:00"}, params)
    assert (window["since"], window["until"]) == ("2026-02-01T00:00:00+00:00", "2026-03-05T00:00:00+00:00")
    assert window["origin"].startswith("replay")
    with pytest.raises(ValueError, match="payments.window.since=2026-03-06T00:00:00\\+00:00 is not before"):
        window_of({"name": "payments", "last_update": None},
                                      payments_params(**{"window.since": "2026-03-06", "window.process_time": "2026-03-05"}))


def _current(created):
    return pd.DataFrame({"payment_id": range(1, len(created) + 1), "company_code": "C0001", "external_client_id": "x",
                         "status": "ok", "amount": 1.0, "payment_at": pd.to_datetime(created, utc=True),
                         "created_at": pd.to_datetime(created, utc=True), "updated_at": pd.to_datetime(created, utc=True),
                         "start_date": pd.to_datetime(created, utc=True)})


def test_index_keeps_current_payments_since_the_date_and_validates():
    window = {"until": "2026-03-01T00:00:00+00:00"}
    params = payments_params(**{"index.since": "2026-02-01"}).index
    index = nodes.extract_payments_index(_current(["2026-01-15", "2026-02-02", "2026-02-20"]), window, params)
    assert index["payment_id"].tolist() == [2, 3]
    checked = nodes.validate_payments_index(index, window, params)
    assert str(checked["payment_id"].dtype) == "int64"
    with pytest.raises(ValueError, match=r"'payments_index': 1 duplicate current key"):
        nodes.validate_payments_index(pd.concat([index, index.iloc[[0]]]), window, params)
    late = index.assign(created_at=pd.to_datetime(["2026-02-02", "2026-03-02"], utc=True))
    with pytest.raises(ValueError, match=r"created_at 2026-03-02 .* at row 1 is outside"):
        nodes.validate_payments_index(late, window, params)
    with pytest.raises(ValueError, match=r"lacks columns \['status'\]"):
        nodes.validate_payments_index(index.drop(columns="status"), window, params)


def test_generator_windows_are_consistent_and_include_every_kind_of_row():
    params = {"seed": 3, "origin": "2026-01-01", "payments_per_day": 200}
    whole = generate_payments("2026-02-01", "2026-02-21", **params)
    halves = pd.concat([generate_payments("2026-02-01", "2026-02-11", **params),
                        generate_payments("2026-02-11", "2026-02-21", **params)])
    assert sorted(whole["id"]) == sorted(halves["id"])  # any split of time gives the same events
    assert whole["payment_id"].isna().any()  # null keys
    assert (whole["amount"] == "12,50 ARS").any()
    assert whole.duplicated().any()  # rows sent twice
    keyed = whole.dropna(subset=["payment_id"])
    assert keyed.duplicated(["payment_id", "company_code"]).any()  # several events of one payment
    assert whole["external_client_id"].isna().any()
    updated = pd.to_datetime(whole["updated_at"], utc=True)
    assert updated.between(pd.Timestamp("2026-02-01", tz="UTC"), pd.Timestamp("2026-02-21", tz="UTC")).all()
    # successive batches: some payments come back changed, some unchanged
    valid, _ = nodes.validate_payments_batch(nodes._as_text(whole, list(whole.columns)),
                                             pd.DataFrame({"company_code": whole["company_code"].unique()}))
    first = valid.sort_values("updated_at").drop_duplicates(["payment_id", "company_code"], keep="first")
    last = valid.sort_values("updated_at").drop_duplicates(["payment_id", "company_code"], keep="last")
    both = first.merge(last, on=["payment_id", "company_code"], suffixes=("_a", "_b"))
    both = both[both["id_a"] != both["id_b"]]
    same = (both["status_a"] == both["status_b"]) & (both["amount_a"] == both["amount_b"]) & (
        both["payment_at_a"] == both["payment_at_b"])
    assert same.any() and (~same).any()
