"""The cloud environment moves every file dataset of every pipeline to the S3 lake, and nothing else."""

from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from omegaconf.errors import UnsupportedInterpolationType

CONF = Path(__file__).resolve().parents[1] / "conf"
FILE_KEYS = ("path", "filepath")
BASE_CATALOGS = sorted(path.name for path in (CONF / "base").glob("catalog*.yml"))
LAKE = "s3://cripto-lake"  # conf/cloud/globals.yml


def _catalog(env: str, conf: Path = CONF) -> dict:
    return OmegaConfigLoader(str(conf), base_env="base", default_run_env=env)["catalog"]


def _location(entry: dict) -> str:
    return next(entry[key] for key in FILE_KEYS if key in entry)


def test_every_pipeline_catalog_is_checked():
    assert {"catalog.yml", "catalog_clustering.yml", "catalog_ingestion.yml", "catalog_payments.yml"} <= set(
        BASE_CATALOGS
    )


@pytest.mark.parametrize("source", BASE_CATALOGS)
def test_cloud_points_every_file_dataset_at_the_bucket_changing_only_paths(source):
    file_entries = [  # the lake's datasets (an outside source such as sales_source is not in the lake)
        name
        for name, entry in yaml.safe_load((CONF / "base" / source).read_text()).items()
        if not name.startswith("_") and str(_location(entry) if set(FILE_KEYS) & set(entry) else "").startswith(
            "${globals:lake_root}")
    ]
    assert file_entries, f"{source} has no file datasets"
    local, cloud = _catalog("local"), _catalog("cloud")
    for name in file_entries:
        local_location = _location(local[name])
        assert local_location == "data" or local_location.startswith("data/"), f"{name}: {local_location}"
        assert cloud[name] == _on_the_lake(local[name]), name  # every lake path moved (nested ones too), nothing else


def _on_the_lake(value):
    """``value`` with every path under ``data`` moved to the cloud lake, whatever its depth."""
    if isinstance(value, dict):
        return {key: _on_the_lake(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_on_the_lake(item) for item in value]
    if isinstance(value, str) and (value == "data" or value.startswith("data/")):
        return LAKE + value.removeprefix("data")
    return value


def test_the_bucket_is_configuration_not_an_environment_variable(monkeypatch):
    """oc.env only in credentials: the bucket is named in conf/cloud/globals.yml, whatever the environment says."""
    monkeypatch.setenv("CRIPTO_S3_BUCKET", "from-the-environment")
    for path in CONF.glob("*/*.yml"):
        if path.name != "credentials.yml":
            assert "oc.env" not in path.read_text(), path
    assert _location(_catalog("cloud")["payments_index"]) == f"{LAKE}/04_feature/payments_index.parquet"


def test_another_bucket_is_another_environment(tmp_path):
    """A deployment on another bucket copies the cloud folder as its own environment and edits one line."""
    import shutil

    shutil.copytree(CONF, tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "staging").mkdir()
    (tmp_path / "conf" / "staging" / "globals.yml").write_text("lake_root: s3://staging-lake\n")
    staged = _catalog("staging", tmp_path / "conf")
    assert _location(staged["payments_index"]) == "s3://staging-lake/04_feature/payments_index.parquet"


def test_kedro_refuses_run_parameters_in_globals(tmp_path):
    """Why the bucket is not a `--params` value: Kedro 1.7 does not resolve runtime_params in globals."""
    (tmp_path / "base").mkdir()
    (tmp_path / "cloud").mkdir()
    (tmp_path / "base" / "globals.yml").write_text("lake_root: data\n")
    (tmp_path / "cloud" / "globals.yml").write_text("lake_root: s3://${runtime_params:lake_bucket,cripto-lake}\n")
    with pytest.raises(UnsupportedInterpolationType, match="not supported for globals"):
        OmegaConfigLoader(str(tmp_path), base_env="base", default_run_env="cloud",
                          runtime_params={"lake_bucket": "other"})
