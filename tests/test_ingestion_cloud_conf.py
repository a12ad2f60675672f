"""The cloud environment moves every file dataset of ingestion, clustering and the shared factories to the lake."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

CONF = Path(__file__).resolve().parents[1] / "conf"
FILE_KEYS = ("path", "filepath")


def _catalog(env: str, monkeypatch) -> dict:
    monkeypatch.setenv("CRIPTO_S3_BUCKET", "the-lake")
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env=env, custom_resolvers={"oc.env": oc.env})
    return loader["catalog"]


@pytest.mark.parametrize("source", ["catalog.yml", "catalog_ingestion.yml", "catalog_clustering.yml"])
def test_cloud_points_every_file_dataset_at_the_bucket(source, monkeypatch):
    import yaml

    base_entries = {
        name: entry
        for name, entry in yaml.safe_load((CONF / "base" / source).read_text()).items()
        if not name.startswith("_") and any(key in entry for key in FILE_KEYS)
    }
    assert base_entries
    cloud = _catalog("cloud", monkeypatch)
    for name, entry in base_entries.items():
        cloud_entry = cloud[name]
        location = next(cloud_entry[key] for key in FILE_KEYS if key in cloud_entry)
        assert location.startswith("s3://the-lake"), f"{name}: {location}"
        base_location = next(entry[key] for key in FILE_KEYS if key in entry)
        assert location.removeprefix("s3://the-lake") == base_location.removeprefix("data"), name
        # only the path changes
        assert {k: v for k, v in cloud_entry.items() if k not in FILE_KEYS} == {
            k: v for k, v in _catalog("local", monkeypatch)[name].items() if k not in FILE_KEYS
        }, name
