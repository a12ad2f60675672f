"""Small payments with planted groups, the shipped parameters as typed models, run metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from cripto_platform.pipelines.recommendation.params import BLOCKS
from cripto_platform.run_metadata import new_run_metadata
from tests.conftest import PROJECT_ROOT

SHIPPED = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_recommendation.yml").read_text())["recommendation"]


def params(block: str, **overrides):
    """The shipped ``recommendation.<block>`` as its typed model, with ``overrides``."""
    return BLOCKS[block](**{**SHIPPED[block], **overrides})


def make_payments(n_clients: int = 300, n_groups: int = 4, per_group: int = 8, days: int = 60,
                  seed: int = 3) -> pd.DataFrame:
    """Clients in groups paying mostly their group's companies (3 to 6 of them, again and again)."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2026-03-01", tz="UTC")
    rows = []
    payment_id = 0
    for client in range(n_clients):
        group = client % n_groups
        own = rng.choice(per_group, size=rng.integers(3, 7), replace=False) + group * per_group
        for _ in range(rng.integers(4, 12)):
            company = rng.choice(own) if rng.random() < 0.9 else rng.integers(n_groups * per_group)
            payment_id += 1
            paid_at = end - pd.Timedelta(days=float(rng.uniform(0, days)))
            rows.append((payment_id, f"C{company + 1:03d}", f"CL{client:05d}", "approved",
                         round(float(rng.uniform(5, 500)), 2), paid_at))
    frame = pd.DataFrame(rows, columns=["payment_id", "company_code", "external_client_id", "status", "amount",
                                        "payment_at"])
    frame["created_at"] = frame["payment_at"] - pd.Timedelta(hours=1)
    frame["updated_at"] = frame["payment_at"]
    return frame


def make_companies(n: int = 32) -> pd.DataFrame:
    codes = [f"C{i:03d}" for i in range(1, n + 1)]
    return pd.DataFrame({"company_code": codes, "company_id": range(1, n + 1), "name": codes, "category": "retail"})


@pytest.fixture(scope="module")
def payments() -> pd.DataFrame:
    return make_payments()


@pytest.fixture(scope="module")
def companies() -> pd.DataFrame:
    return make_companies()


@pytest.fixture
def run_metadata() -> dict[str, str]:
    return new_run_metadata("2026-03-01T00.00.00.000Z")
