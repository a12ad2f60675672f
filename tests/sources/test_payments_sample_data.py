"""The payments generator's planted structure, measured on the rows it generates (no database).

Segments prefer categories, popularity is Zipf-skewed, clients pay their bills again and again, and
a co-occurrence recommender beats popularity; the universe stays seeded, window-consistent and typed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from cripto_platform.pipelines.payments.params import SampleDataParams
from cripto_platform.sources import payments as generator
from cripto_platform.sources.payments import (
    CATEGORIES,
    PAYMENT_COLUMNS,
    generate_companies,
    generate_payments,
    planted_structure,
)
from tests.conftest import PROJECT_ROOT

# 1000 clients over 90 days at 500 payments a day: about 45 payments per client.
UNIVERSE = {"seed": 7, "origin": "2026-01-01", "payments_per_day": 500, "n_companies": 300, "n_clients": 1000}
SINCE, UNTIL, SPLIT = "2026-01-01", "2026-04-01", "2026-03-02"


def first_versions(rows: pd.DataFrame) -> pd.DataFrame:
    """Each payment's creation row (its creating client), once, with a client."""
    created = rows[(rows["id"] - 1) % generator.EVENTS_PER_PAYMENT == 0].drop_duplicates("id")
    return created.dropna(subset=["external_client_id"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def truth() -> dict:
    return planted_structure(**UNIVERSE)


@pytest.fixture(scope="module")
def paid(truth) -> pd.DataFrame:
    """First versions of 90 days of payments, with the payer's planted segment and the company's category."""
    rows = first_versions(generate_payments(SINCE, UNTIL, **UNIVERSE))
    clients = truth["clients"].set_index("external_client_id")
    companies = truth["companies"].set_index("company_code")
    return rows.assign(
        segment=clients.loc[rows["external_client_id"], "segment"].to_numpy(),
        category=companies.loc[rows["company_code"], "category"].to_numpy(),
    )


def test_planted_structure_follows_its_parameters(truth):
    companies, segments, clients = truth["companies"], truth["segments"], truth["clients"]
    assert len(companies) == 300 and set(companies["category"]) == set(CATEGORIES)
    assert companies["category"].value_counts().min() >= 15  # 300 companies spread over the ten categories
    assert np.allclose(companies.groupby("category")["popularity"].sum(), 1)
    assert (companies.groupby("category")["category_rank"].min() == 1).all()
    assert sorted(companies["popularity_rank"]) == list(range(1, 301))
    assert len(segments) == 8 and segments["n_clients"].sum() == 1000
    pairs = segments["preferred_categories"].map(tuple)
    assert pairs.is_unique and set(np.concatenate(pairs.to_list())) == set(CATEGORIES)  # every category preferred
    assert np.allclose(truth["category_preference"].sum(axis=1), 1)
    n_bills = clients["bills"].map(len)
    assert n_bills.between(2, 6).all() and set(n_bills) == {2, 3, 4, 5, 6}
    assert clients["bills"].map(lambda bills: len(set(bills)) == len(bills)).all()
    assert truth["explore_share"] == 0.15
    # Bills come from the segment's preferred categories mostly (segment_focus 0.8).
    category = companies.set_index("company_code")["category"]
    preferred = dict(zip(segments["segment"], segments["preferred_categories"]))
    in_preferred = [category[bill] in preferred[segment]
                    for segment, bills in zip(clients["segment"], clients["bills"]) for bill in bills]
    assert np.mean(in_preferred) > 0.7


def test_clients_of_a_segment_pay_their_preferred_categories_far_above_chance(paid, truth):
    for segment, preferred in zip(truth["segments"]["segment"], truth["segments"]["preferred_categories"]):
        own = paid.loc[paid["segment"] == segment, "category"].isin(preferred).mean()
        others = paid.loc[paid["segment"] != segment, "category"].isin(preferred).mean()
        assert own > 0.65 and own > 3 * others, (segment, preferred, own, others)


def test_company_popularity_is_zipf_skewed(paid, truth):
    counts = paid["company_code"].value_counts()
    top_decile = counts.iloc[: len(counts) // 10].sum() / counts.sum()
    assert top_decile > 0.4  # uniform popularity would give 0.1
    observed_rank = counts.reindex(truth["companies"]["company_code"], fill_value=0).rank(ascending=False)
    assert np.corrcoef(observed_rank, truth["companies"]["popularity_rank"])[0, 1] > 0.8
    flat = first_versions(generate_payments(SINCE, "2026-02-01", **UNIVERSE, popularity_exponent=0))
    flat_counts = flat["company_code"].value_counts()
    assert flat_counts.iloc[:30].sum() / flat_counts.sum() < top_decile - 0.15  # the exponent drives the skew


def test_clients_pay_their_bills_again_and_again(paid, truth):
    per_client = paid.groupby(["external_client_id", "company_code"]).size()
    assert per_client.groupby(level=0).max().median() >= 8  # the median client's top company, in 90 days
    bills = truth["clients"].set_index("external_client_id")["bills"].map(set)
    to_bills = np.mean([company in bills[client]
                        for client, company in zip(paid["external_client_id"], paid["company_code"])])
    assert abs(to_bills - (1 - truth["explore_share"])) < 0.015
    # explore_share moves the share to bills with it
    curious = {**UNIVERSE, "explore_share": 0.5}
    rows = first_versions(generate_payments(SINCE, "2026-01-15", **curious))
    bills = planted_structure(**curious)["clients"].set_index("external_client_id")["bills"].map(set)
    share = np.mean([company in bills[c] for c, company in zip(rows["external_client_id"], rows["company_code"])])
    assert abs(share - 0.5) < 0.03


def test_same_seed_same_rows_and_window_halves_equal_the_whole():
    params = {**UNIVERSE, "payments_per_day": 200}
    whole = generate_payments("2026-02-01", "2026-02-21", **params)
    generator._universe.cache_clear()  # the cached per-client arrays are rebuilt identically
    again = generate_payments("2026-02-01", "2026-02-21", **params)
    pd.testing.assert_frame_equal(whole, again)
    halves = pd.concat([generate_payments("2026-02-11", "2026-02-21", **params),  # later half first
                        generate_payments("2026-02-01", "2026-02-11", **params)])
    halves = halves.sort_values("id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, halves)
    other = generate_payments("2026-02-01", "2026-02-21", **{**params, "seed": 8})
    assert not whole["company_code"].head(500).equals(other["company_code"].head(500))
    assert planted_structure(**params)["clients"].equals(planted_structure(**params)["clients"])


def test_rows_keep_int_ids_and_the_api_columns_and_dtypes():
    rows = generate_payments("2026-02-01", "2026-02-08", **UNIVERSE)
    assert list(rows.columns) == PAYMENT_COLUMNS
    assert rows["id"].dtype == np.int64 and rows["id"].is_monotonic_increasing
    keys = rows["payment_id"].dropna()
    assert keys.map(type).eq(int).all() and rows["payment_id"].isna().any()  # ints, and a few null keys
    for column in PAYMENT_COLUMNS[2:]:
        assert pd.api.types.is_string_dtype(rows[column]), column
    codes = set(generate_companies(300, 7, "2026-01-01")["company_code"])
    assert set(rows["company_code"]) <= codes
    assert rows["external_client_id"].dropna().str.fullmatch(r"CL\d{6}").all()
    assert 0.05 < rows["external_client_id"].isna().mean() < 0.11  # NULL clients, as before
    companies = generate_companies(300, 7, "2026-01-01")
    assert companies["category"].tolist() == planted_structure(1, 300, 7)["companies"]["category"].tolist()


def test_small_and_extreme_universes_still_draw_valid_companies():
    # Seven companies leave most categories empty; full focus and full exploration are allowed.
    rows = generate_payments("2026-01-01", "2026-01-11", seed=3, origin="2026-01-01", n_companies=7,
                             segment_focus=1.0, explore_share=1.0, bills_min=6, bills_max=6)
    assert set(rows["company_code"]) <= set(generator.company_codes(7)) and len(rows) > 1000
    truth = planted_structure(10, 7, 3, bills_min=6, bills_max=6)
    assert truth["clients"]["bills"].map(len).le(6).all()
    none_explore = first_versions(generate_payments("2026-01-01", "2026-01-05", **UNIVERSE, explore_share=0))
    bills = planted_structure(**UNIVERSE)["clients"].set_index("external_client_id")["bills"].map(set)
    assert all(company in bills[c] for c, company in zip(none_explore["external_client_id"],
                                                         none_explore["company_code"]))
    with pytest.raises(ValueError, match=r"\['bills_min'\]"):
        generate_payments("2026-01-01", "2026-01-02", bills_min=5, bills_max=3)
    with pytest.raises(TypeError, match="n_segmentz"):
        planted_structure(n_segmentz=3)


def test_sample_data_parameters_are_typed_and_bounded():
    shipped = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_payments.yml").read_text())["payments"]["sample_data"]
    params = SampleDataParams.model_validate(shipped)
    assert (params.n_companies, params.n_clients, params.n_segments) == (300, 5000, 8)
    assert set(shipped) <= set(generator._GENERATOR_PARAMETERS)  # every key reaches generate_payments
    for bad in ({"bills_min": 7}, {"bills_max": 13}, {"explore_share": 1.5}, {"n_segments": 0},
                {"popularity_exponent": -1}, {"segment_focus": 2}, {"n_segmentz": 3}):
        with pytest.raises(ValidationError):
            SampleDataParams.model_validate({**shipped, **bad})


def test_cooccurrence_beats_popularity_at_next_period_new_companies(paid):
    """Item-item co-occurrence on 60 days vs popularity, at the companies each client first pays in the next 30."""
    client = {code: n for n, code in enumerate(sorted(paid["external_client_id"].unique()))}
    company = {code: n for n, code in enumerate(generator.company_codes(300))}
    before = paid[pd.to_datetime(paid["created_at"], utc=True) < pd.Timestamp(SPLIT, tz="UTC")]
    after = paid.drop(before.index)
    seen = np.zeros((len(client), len(company)))
    seen[before["external_client_id"].map(client), before["company_code"].map(company)] = 1
    new = np.zeros_like(seen, dtype=bool)
    new[after["external_client_id"].map(client), after["company_code"].map(company)] = True
    new &= seen == 0
    together = seen.T @ seen
    np.fill_diagonal(together, 0)

    def hit_rate(scores: np.ndarray, k: int = 10) -> float:
        scores = np.where(seen > 0, -np.inf, scores)  # recommend only companies not paid yet
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        hits = np.take_along_axis(new, top, axis=1).any(axis=1)
        return hits[new.any(axis=1)].mean()

    cooccurrence = hit_rate(seen @ together)
    popularity = hit_rate(np.broadcast_to(seen.sum(axis=0), seen.shape))
    assert new.any(axis=1).sum() > 500  # most clients pay a new company in the next period
    assert cooccurrence > popularity + 0.08, (cooccurrence, popularity)
