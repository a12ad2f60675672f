"""Kaggle: the connector at the ``kaggle`` client boundary, download validation, per-dataset nodes."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from cripto_platform.pipelines.ingestion import kaggle_nodes
from cripto_platform.pipelines.ingestion.csv_quarantine import SchemaDriftError
from cripto_platform.sources.kaggle import (
    CREDIT_RISK_COLUMNS,
    MOTOR_COLUMNS,
    KaggleConnector,
    KaggleDownloadError,
    generate_citesum_json,
    generate_credit_risk_csv,
    generate_motor_temperature_csv,
    kaggle_credentials_configured,
)

PARAMS_FILE = Path(__file__).resolve().parents[3] / "conf/base/parameters_ingestion.yml"


@pytest.fixture(scope="module")
def kaggle_params():
    import yaml

    return yaml.safe_load(PARAMS_FILE.read_text())["ingestion"]["kaggle"]


class FakeKaggleApi:
    """Stands in for ``KaggleApi``: records calls and 'unzips' the given files into ``path``."""

    def __init__(self, files: dict[str, bytes], fail: Exception | None = None):
        self.files, self.fail, self.calls = files, fail, []

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False):
        self.calls.append({"dataset": dataset, "unzip": unzip, "force": force})
        if self.fail:
            raise self.fail
        for name, data in self.files.items():
            (Path(path) / name).write_bytes(data)


def test_connector_downloads_the_configured_version():
    api = FakeKaggleApi({"credit_risk_dataset.csv": b"a,b\n1,2\n", "extra.txt": b"x"})
    files = KaggleConnector(api).download("laotse/credit-risk-dataset", 1, ["credit_risk_dataset.csv"])
    assert {name: file() for name, file in files.items()} == {"credit_risk_dataset.csv": b"a,b\n1,2\n"}
    assert api.calls == [{"dataset": "laotse/credit-risk-dataset/1", "unzip": True, "force": True}]
    KaggleConnector(api).download("laotse/credit-risk-dataset", None, ["credit_risk_dataset.csv"])
    assert api.calls[-1]["dataset"] == "laotse/credit-risk-dataset"  # latest version


def test_partial_or_failed_download_raises():
    partial = FakeKaggleApi({"train.json": b"{}\n", "test.json": b""})
    with pytest.raises(KaggleDownloadError, match=r"incomplete: missing \['validation.json'\], empty \['test.json'\]"):
        KaggleConnector(partial).download("nbroad/cite-sum", 1, ["train.json", "validation.json", "test.json"])
    broken = FakeKaggleApi({}, fail=ConnectionError("reset by peer"))
    with pytest.raises(KaggleDownloadError, match="reset by peer"):
        KaggleConnector(broken).download("nbroad/cite-sum", 1, ["train.json"])


def test_default_connector_uses_the_kaggle_package(monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path))
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleConnector().api
    assert isinstance(api, KaggleApi)
    assert kaggle_credentials_configured()
    assert not kaggle_credentials_configured({"KAGGLE_CONFIG_DIR": str(tmp_path)})


def test_generators_have_the_real_schemas():
    credit = pd.read_csv(io.BytesIO(generate_credit_risk_csv(50)))
    assert list(credit.columns) == CREDIT_RISK_COLUMNS and len(credit) == 50
    motor = pd.read_csv(io.BytesIO(generate_motor_temperature_csv(3, 10)))
    assert list(motor.columns) == MOTOR_COLUMNS and motor["profile_id"].nunique() == 3
    citesum = generate_citesum_json(40)
    assert sorted(citesum) == ["test.json", "train.json", "validation.json"]
    paper = json.loads(citesum["train.json"].splitlines()[0])
    assert {"paper_id", "title", "abstract", "summary", "categories"} <= set(paper)


def test_download_node_uses_kaggle_when_configured(monkeypatch, kaggle_params):
    api = FakeKaggleApi({"credit_risk_dataset.csv": generate_credit_risk_csv(20)})
    monkeypatch.setattr(kaggle_nodes, "make_connector", lambda: KaggleConnector(api))
    params = {**kaggle_params, "source": "kaggle", "datasets": {"credit_risk": kaggle_params["datasets"]["credit_risk"]}}
    raw = kaggle_nodes.download_kaggle_datasets(params, "20240105")
    assert sorted(raw) == ["credit_risk/20240105/_manifest.json", "credit_risk/20240105/credit_risk_dataset.csv"]
    manifest = json.loads(raw["credit_risk/20240105/_manifest.json"])
    assert manifest["origin"] == "kaggle" and manifest["kaggle_version"] == 1
    assert api.calls[0]["dataset"] == "laotse/credit-risk-dataset/1"


def test_download_node_fails_whole_when_one_download_is_partial(monkeypatch, kaggle_params):
    monkeypatch.setattr(kaggle_nodes, "make_connector", lambda: KaggleConnector(FakeKaggleApi({})))
    with pytest.raises(KaggleDownloadError, match="previous processed version is kept"):
        kaggle_nodes.download_kaggle_datasets({**kaggle_params, "source": "kaggle"}, "20240105")


def test_csv_node_types_and_quarantines(kaggle_params):
    spec = kaggle_params["datasets"]["credit_risk"]
    raw = {"credit_risk/20240105/credit_risk_dataset.csv": lambda: generate_credit_risk_csv(300, malformed_rows=4)}
    processed, quarantine = kaggle_nodes.process_csv_table(raw, "20240105", spec)
    table = processed["20240105"]
    assert table.num_rows + len(quarantine) == 300 and len(quarantine) == 4
    assert str(table.schema.field("loan_int_rate").type) == "double"
    assert str(table.schema.field("person_age").type) == "int64"
    assert (quarantine["line_number"] >= 2).all()


def test_csv_node_schema_drift_names_column_and_dataset(kaggle_params):
    spec = kaggle_params["datasets"]["motor_temperature"]
    text = generate_motor_temperature_csv(1, 5).decode().replace("torque", "torque_nm")
    raw = {"motor_temperature/20240105/measures_v2.csv": lambda: text.encode()}
    with pytest.raises(SchemaDriftError, match=r"'motor_temperature/20240105/measures_v2.csv': missing column 'torque'"):
        kaggle_nodes.process_csv_table(raw, "20240105", spec)
    tolerant = {**spec, "tolerated_drift": ["torque", "torque_nm"]}
    processed, _ = kaggle_nodes.process_csv_table(raw, "20240105", tolerant)
    assert {"torque", "torque_nm"} <= set(processed["20240105"].column_names)


def test_citesum_becomes_related_tables(kaggle_params):
    spec = kaggle_params["datasets"]["citesum"]
    files = generate_citesum_json(200)
    duplicate = files["train.json"].splitlines()[0] + b"\n"
    files["test.json"] = files["test.json"] + duplicate
    raw = {f"citesum/20240105/{name}": (lambda data=data: data) for name, data in files.items()}
    papers, summaries, categories, quarantine = kaggle_nodes.process_citesum(raw, "20240105", spec)
    papers, summaries, categories = papers["20240105"], summaries["20240105"], categories["20240105"]
    assert papers["paper_id"].is_unique and len(papers) == 200
    assert len(quarantine) == 1 and "duplicate paper_id" in quarantine["reason"].item()
    assert set(summaries["paper_id"]) == set(papers["paper_id"]) and summaries["summary_id"].is_unique
    assert set(categories["paper_id"]) <= set(papers["paper_id"])
    assert not categories.duplicated(["paper_id", "category"]).any()
    assert categories.groupby("paper_id")["is_primary"].sum().eq(1).all()
    primary = categories[categories["is_primary"]].set_index("paper_id")["category"]
    assert (papers.set_index("paper_id")["primary_category"] == primary).all()
