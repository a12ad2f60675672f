"""The shipped payments parameters (conf/base), validated by their models as Kedro validates them."""

from __future__ import annotations

import copy
from functools import lru_cache
from types import SimpleNamespace

from cripto_platform.pipelines.payments.params import BLOCKS, SampleDataParams, SourceParams
from tests.conftest import PROJECT_ROOT


@lru_cache(maxsize=1)
def _shipped() -> dict:
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    return loader["parameters"]["payments"]


def payments_params(**overrides) -> SimpleNamespace:
    """Every ``payments.<block>`` as its model, with dotted overrides (``"merge.missing_keys": ...``)."""
    raw = copy.deepcopy(_shipped())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    assert set(raw) == set(BLOCKS), "every payments parameter block has a model"
    return SimpleNamespace(**{name: BLOCKS[name].model_validate(value) for name, value in raw.items()})


def source_params(**fields) -> SourceParams:
    return SourceParams.model_validate({**_shipped()["source"], **fields})


def sample_dict(**fields) -> dict:
    """The generator's keyword arguments (what the API server takes), shipped values overridden."""
    return {**_shipped()["sample_data"], **fields}


def sample_params(**fields) -> SampleDataParams:
    return SampleDataParams.model_validate(sample_dict(**fields))
