"""The cloud environment moves every file dataset of every pipeline to the S3 lake, and nothing else."""

from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

CONF = Path(__file__).resolve().parents[1] / "conf"
FILE_KEYS = ("path", "filepath")
BASE_CATALOGS = sorted(path.name for path in (CONF / "base").glob("catalog*.yml"))


def _catalog(env: str, monkeypatch) -> dict:
    monkeypatch.setenv("CRIPTO_S3_BUCKET", "the-lake")
    loader = OmegaConfigLoader(
        str(CONF), base_env="base", default_run_env=env, custom_resolvers={"oc.env": oc.env}
    )
    return loader["catalog"]


def _location(entry: dict) -> str:
    return next(entry[key] for key in FILE_KEYS if key in entry)


def test_every_pipeline_catalog_is_checked():
    assert {"catalog.yml", "catalog_clustering.yml", "catalog_ingestion.yml", "catalog_payments.yml"} <= set(
        BASE_CATALOGS
    )


@pytest.mark.parametrize("source", BASE_CATALOGS)
def test_cloud_points_every_file_dataset_at_the_bucket_changing_only_paths(source, monkeypatch):
    file_entries = [
        name
        for name, entry in yaml.safe_load((CONF / "base" / source).read_text()).items()
        if not name.startswith("_") and any(key in entry for key in FILE_KEYS)
    ]
    assert file_entries, f"{source} has no file datasets"
    local, cloud = _catalog("local", monkeypatch), _catalog("cloud", monkeypatch)
    for name in file_entries:
        local_location, cloud_location = _location(local[name]), _location(cloud[name])
        assert local_location == "data" or local_location.startswith("data/"), f"{name}: {local_location}"
        assert cloud_location == "s3://the-lake" + local_location.removeprefix("data"), name
        rest = {key: value for key, value in cloud[name].items() if key not in FILE_KEYS}
        assert rest == {key: value for key, value in local[name].items() if key not in FILE_KEYS}, name
