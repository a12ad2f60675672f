"""check_deliverables, the last node of every pipeline: sizes by kind of deliverable, every failure
message, the rules' validation (by Kedro and here) and the success log line."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kedro.pipeline import Node, Pipeline
from kedro.validation import ParameterValidator, TypeExtractor
from kedro_datasets.plotly import JSONDataset
from pydantic import ValidationError

from cripto_platform.profiling.parquet import parquet_source
from cripto_platform.profiling.sources import WarehouseSource
from cripto_platform.quality.deliverables import (
    DeliverableCheckError,
    DeliverablesParams,
    check_deliverables,
    parts,
)

RULES = {"required": ["kaggle_credit_risk", "model_selection_chart"],
         "quarantine_of": {"credit_risk_quarantine": "kaggle_credit_risk"},
         "max_quarantine_share": 0.5}


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n, dtype="int64")})


def chart() -> go.Figure:
    """8 points: a scatter of 5 (numpy arrays) and a bar of 3."""
    return go.Figure([go.Scatter(x=np.arange(5), y=np.arange(5.0)), go.Bar(x=["a", "b", "c"], y=[1, 2, 3])])


def boom():
    raise AssertionError("a partition was loaded to size it")


@pytest.fixture
def lake_table(tmp_path):
    """A lake table version of 7 rows in two parquet files and an empty one (footers give 3 + 4 + 0)."""
    folder = tmp_path / "lake" / "credit_risk" / "v1"
    folder.mkdir(parents=True)
    for index, n in enumerate((3, 4, 0)):
        pq.write_table(pa.table({"id": pa.array(range(n), pa.int64())}), folder / f"part-{index}.parquet")
    return parquet_source(str(folder), name="credit_risk", version="v1")


# --- sizes -------------------------------------------------------------------------------------------

def test_parquet_source_counts_rows_of_every_file(lake_table):
    assert lake_table.exists and len(lake_table.files) == 3
    assert parts("kaggle_credit_risk", lake_table) == {"kaggle_credit_risk": 7}


def test_parquet_source_without_a_version_is_not_written(tmp_path):
    missing = parquet_source(str(tmp_path / "lake" / "never_written"), name="never_written")
    assert not missing.exists
    assert parts("never_written", missing) == {"never_written": None}


def test_parquet_source_of_an_empty_file_holds_zero_rows(tmp_path):
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), tmp_path / "empty.parquet")
    assert parts("empty", parquet_source(str(tmp_path / "empty.parquet"), name="empty")) == {"empty": 0}


def test_frames_tables_and_none():
    assert parts("df", frame(4)) == {"df": 4}
    assert parts("df", frame(0)) == {"df": 0}
    assert parts("arrow", pa.table({"id": [1, 2, 3]})) == {"arrow": 3}
    assert parts("pending", None) == {"pending": None}


def test_dict_of_tables_gives_one_part_per_table(lake_table, tmp_path):
    missing = parquet_source(str(tmp_path / "nowhere"), name="nowhere")
    tables = {"zone_catalog": frame(2), "lake": lake_table, "nowhere": missing, "arrow": pa.table({"a": [1]})}
    assert parts("sales_warehouse", tables) == {
        "sales_warehouse.zone_catalog": 2, "sales_warehouse.lake": 7,
        "sales_warehouse.nowhere": None, "sales_warehouse.arrow": 1,
    }


def test_partitions_are_counted_not_loaded():
    assert parts("raw_papers", {"2024-01": boom, "2024-02": boom, "2024-03": boom}) == {"raw_papers": 3}
    assert parts("raw_papers", {}) == {"raw_papers": 0}


def test_figure_counts_the_points_it_draws():
    assert parts("model_selection_chart", chart()) == {"model_selection_chart": 8}
    # per trace its longest array: a pie by values/labels, a table by its cells' rows, a heatmap by rows
    figure = go.Figure([go.Pie(values=[1, 2], labels=["a", "b"]),
                        go.Table(header={"values": ["a", "b"]}, cells={"values": [[1, 2, 3], [4, 5, 6]]}),
                        go.Heatmap(z=np.ones((4, 2))), go.Scatter(x=[1, 2], y=[1, 2, 3, 4, 5, 6])])
    assert parts("report", figure) == {"report": 2 + 3 + 4 + 6}


def test_figure_as_the_plotly_dataset_loads_it_and_as_a_dict(tmp_path):
    """plotly >= 6 writes numpy arrays as typed arrays ({"dtype", "bdata"}) and from_json keeps them so:
    counted by their decoded length, not len() of the dict."""
    dataset = JSONDataset(filepath=str(tmp_path / "chart.json"))
    dataset.save(chart())
    loaded = dataset.load()
    assert isinstance(loaded, go.Figure) and isinstance(loaded.data[0].x, dict)  # what the node gets
    assert parts("chart", loaded) == {"chart": 8}
    as_dict = json.loads((tmp_path / "chart.json").read_text())
    assert parts("chart", as_dict) == {"chart": 8}
    heatmap = json.loads(go.Figure([go.Heatmap(z=np.ones((4, 2)))]).to_json())
    assert heatmap["data"][0]["z"]["shape"] == "4, 2" and parts("h", heatmap) == {"h": 4}
    table = json.loads(go.Figure([go.Table(cells={"values": np.ones((2, 5))})]).to_json())
    assert parts("t", table) == {"t": 5}


def test_figure_with_empty_traces_draws_nothing(tmp_path):
    empty = go.Figure([go.Scatter(x=[], y=[]), go.Bar(x=np.array([], dtype=float), y=np.array([]))])
    assert parts("chart", empty) == {"chart": 0}
    assert parts("chart", go.Figure()) == {"chart": 0}
    assert parts("chart", go.Figure([go.Table(header={"values": ["a"]}, cells={"values": []})])) == {"chart": 0}
    dataset = JSONDataset(filepath=str(tmp_path / "empty.json"))
    dataset.save(empty)
    assert parts("chart", dataset.load()) == {"chart": 0}


def test_text_and_bytes_by_length():
    assert parts("profile_html", "<html></html>") == {"profile_html": 13}
    assert parts("profile_html", "") == {"profile_html": 0}
    assert parts("blob", b"abc") == {"blob": 3}


def test_a_run_report_by_the_length_of_its_newest_page(tmp_path):
    """RunReportDataset (profiling_index_html) loads {newest run version: page}, or {} before the first run."""
    from cripto_platform.datasets.run_reports import RunReportDataset

    report = RunReportDataset(path=str(tmp_path / "profiling"), file_name="index.html", format="text")
    assert parts("profiling_index_html", report.load()) == {"profiling_index_html": 0}
    report.save({"2026-11-26T10.00.00.000Z": "<html>index</html>"})
    assert parts("profiling_index_html", report.load()) == {"profiling_index_html": 18}


def test_unknown_kind_raises_type_error_naming_deliverable_and_type():
    with pytest.raises(TypeError, match=r"'model_index'.*int"):
        parts("model_index", 42)
    with pytest.raises(TypeError, match=r"'mixed'.*dict of int, pandas.DataFrame"):
        parts("mixed", {"a": frame(1), "b": 1})
    with pytest.raises(TypeError, match=r"'odd'.*set"):
        check_deliverables({"required": ["odd"], "quarantine_of": {}, "max_quarantine_share": 1}, odd={1})


# --- checks ------------------------------------------------------------------------------------------

def failures_of(rules, **deliverables) -> list[str]:
    with pytest.raises(DeliverableCheckError) as raised:
        check_deliverables(rules, **deliverables)
    first, *lines = str(raised.value).splitlines()
    assert first == "deliverable checks failed:"
    return lines


def test_all_pass_raises_nothing():
    assert check_deliverables(RULES, kaggle_credit_risk=frame(400), credit_risk_quarantine=frame(3),
                              model_selection_chart=chart()) is None


def test_missing_required_deliverable():
    lines = failures_of(RULES, kaggle_credit_risk=None, credit_risk_quarantine=frame(0),
                        model_selection_chart=chart())
    assert lines == ["- kaggle_credit_risk: not written (required)"]


def test_empty_deliverables_by_kind(tmp_path):
    rules = {"required": ["rows", "partitions", "chart", "report", "sales_warehouse"], "quarantine_of": {},
             "max_quarantine_share": 0.1}
    lines = failures_of(rules, rows=frame(0), partitions={}, chart=go.Figure([go.Scatter(x=[])]), report="",
                        sales_warehouse={"zone_catalog": frame(0), "companies": frame(2),
                                         "lake": parquet_source(str(tmp_path / "no"), name="no")})
    assert lines == ["- rows: holds no rows (required)",
                     "- partitions: holds nothing (required)",
                     "- chart: draws no data points (required)",
                     "- report: is empty (required)",
                     "- sales_warehouse.zone_catalog: holds no rows (required)",
                     "- sales_warehouse.lake: not written (required)"]


def test_quarantine_share_above_the_limit():
    lines = failures_of(RULES, kaggle_credit_risk=frame(100), credit_risk_quarantine=frame(300),
                        model_selection_chart=chart())
    assert lines == ["- credit_risk_quarantine: 300 of 400 rows quarantined (75.0%) against kaggle_credit_risk, "
                     "above max_quarantine_share 50.0%"]


def test_quarantine_share_at_the_limit_or_of_nothing_passes():
    check_deliverables(RULES, kaggle_credit_risk=frame(200), credit_risk_quarantine=frame(200),
                       model_selection_chart=chart())
    none_at_all = {**RULES, "required": []}
    check_deliverables(none_at_all, kaggle_credit_risk=None, credit_risk_quarantine=None,
                       model_selection_chart=None)


def test_quarantine_share_just_above_the_limit_reads_above():
    lines = failures_of({**RULES, "required": []}, kaggle_credit_risk=frame(9990), credit_risk_quarantine=frame(10010),
                        model_selection_chart=None)
    assert lines == ["- credit_risk_quarantine: 10010 of 20000 rows quarantined (50.05%) against "
                     "kaggle_credit_risk, above max_quarantine_share 50.00%"]


def test_a_kept_dataset_not_written_counts_zero(lake_table, tmp_path):
    """Everything quarantined, nothing kept (None counts 0): 100% against a lake table never written."""
    rules = {"required": [], "quarantine_of": {"quarantine": "kept"}, "max_quarantine_share": 0.2}
    lines = failures_of(rules, quarantine=lake_table, kept=parquet_source(str(tmp_path / "no"), name="no"))
    assert lines == ["- quarantine: 7 of 7 rows quarantined (100.0%) against kept, above max_quarantine_share 20.0%"]


def test_every_failure_is_listed_together():
    rules = {"required": ["kaggle_credit_risk", "model_selection_chart", "raw_papers"],
             "quarantine_of": {"credit_risk_quarantine": "kaggle_credit_risk", "papers_quarantine": "raw_papers"},
             "max_quarantine_share": 0.5}
    lines = failures_of(rules, kaggle_credit_risk=frame(0), credit_risk_quarantine=frame(3),
                        model_selection_chart=go.Figure([go.Scatter(x=[], y=[])]), raw_papers=None,
                        papers_quarantine=frame(0))
    assert lines == ["- kaggle_credit_risk: holds no rows (required)",
                     "- model_selection_chart: draws no data points (required)",
                     "- raw_papers: not written (required)",
                     "- credit_risk_quarantine: 3 of 3 rows quarantined (100.0%) against kaggle_credit_risk, "
                     "above max_quarantine_share 50.0%"]


def test_rules_naming_unknown_datasets_are_a_configuration_error():
    rules = {"required": ["kaggle_credit_risk", "typo_chart"], "quarantine_of": {"ghost_quarantine": "ghost"},
             "max_quarantine_share": 0.5}
    # raised before anything is measured: the int would otherwise be a TypeError
    with pytest.raises(ValueError, match=r"\['ghost', 'ghost_quarantine', 'typo_chart'\].*"
                                         r"\['credit_risk_quarantine', 'kaggle_credit_risk'\]"):
        check_deliverables(rules, kaggle_credit_risk=42, credit_risk_quarantine=frame(1))


def test_rules_as_a_dict_or_the_model():
    model = DeliverablesParams.model_validate(RULES)
    for rules in (RULES, model):
        lines = failures_of(rules, kaggle_credit_risk=None, credit_risk_quarantine=frame(0),
                            model_selection_chart=chart())
        assert lines == ["- kaggle_credit_risk: not written (required)"]
    for bad in ({**RULES, "max_quarantine_share": 1.5}, {**RULES, "extra": 1},
                {key: value for key, value in RULES.items() if key != "max_quarantine_share"}):
        with pytest.raises(ValidationError):
            check_deliverables(bad, kaggle_credit_risk=frame(1), credit_risk_quarantine=frame(0),
                               model_selection_chart=chart())
    with pytest.raises(ValidationError):
        model.required = []  # frozen


def test_kedro_validates_the_rules_and_runs_the_node():
    """The node as pipelines declare it: Kedro turns params:<pipeline>.deliverables into the model."""
    node = Node(func=check_deliverables,
                inputs={"rules": "params:clustering.deliverables", "kaggle_credit_risk": "kaggle_credit_risk",
                        "credit_risk_quarantine": "credit_risk_quarantine",
                        "model_selection_chart": "model_selection_chart"},
                outputs=None, name="check_deliverables")
    assert TypeExtractor({"clustering": Pipeline([node])}).extract_types_from_pipelines() == {
        "clustering.deliverables": DeliverablesParams}
    params = ParameterValidator({"clustering": Pipeline([node])}).validate_raw_params(
        {"clustering": {"deliverables": RULES}})
    rules = params["clustering"]["deliverables"]
    assert isinstance(rules, DeliverablesParams)
    inputs = {"params:clustering.deliverables": rules, "kaggle_credit_risk": frame(400),
              "credit_risk_quarantine": frame(3), "model_selection_chart": chart()}
    assert node.run(inputs) == {}
    with pytest.raises(DeliverableCheckError, match="kaggle_credit_risk: holds no rows"):
        node.run({**inputs, "kaggle_credit_risk": frame(0), "credit_risk_quarantine": frame(0)})


def test_success_logs_one_short_info_line_and_every_size_at_debug(caplog, lake_table):
    caplog.set_level(logging.DEBUG, logger="cripto_platform.quality.deliverables")
    check_deliverables({**RULES, "required": ["kaggle_credit_risk"]}, kaggle_credit_risk=lake_table,
                       credit_risk_quarantine=frame(3), model_selection_chart=chart(), pending=None,
                       sales_warehouse={"zone_catalog": frame(2)})
    records = [r for r in caplog.records if r.name == "cripto_platform.quality.deliverables"]
    assert [r.levelno for r in records] == [logging.INFO, logging.DEBUG]
    assert records[0].getMessage() == (
        "5 deliverables checked: 1 required hold data, highest quarantine share 30.0% (credit_risk_quarantine)")
    assert records[1].getMessage() == (
        "deliverable sizes: kaggle_credit_risk 7, credit_risk_quarantine 3; "
        "read, no rule: model_selection_chart, pending, sales_warehouse")  # only what a rule names is measured


def test_failure_logs_no_success_line(caplog):
    caplog.set_level(logging.INFO, logger="cripto_platform.quality.deliverables")
    with pytest.raises(DeliverableCheckError):
        check_deliverables(RULES, kaggle_credit_risk=None, credit_risk_quarantine=None, model_selection_chart=chart())
    assert not [r for r in caplog.records if r.name == "cripto_platform.quality.deliverables"]


# --- warehouse ---------------------------------------------------------------------------------------

@pytest.mark.integration
def test_warehouse_tables_counted_in_postgresql(warehouse_url):
    from cripto_platform.warehouse import transaction

    with transaction(warehouse_url, "test tables") as cursor:
        cursor.execute("DROP TABLE IF EXISTS deliverables_counted, deliverables_empty, deliverables_missing")
        cursor.execute("CREATE TABLE deliverables_counted AS SELECT generate_series(1, 1234) AS id")
        cursor.execute("CREATE TABLE deliverables_empty (id bigint)")

    counted = WarehouseSource(name="counted", table="deliverables_counted", url=warehouse_url)
    empty = WarehouseSource(name="empty", table="deliverables_empty")  # url None: the embedded server
    missing = WarehouseSource(name="missing", table="deliverables_missing", url=warehouse_url)
    assert parts("counted", counted) == {"counted": 1234}
    assert parts("empty", empty) == {"empty": 0}
    assert parts("missing", missing) == {"missing": None}
    assert parts("sales_warehouse", {"zone_catalog": counted, "empty": empty, "missing": missing}) == {
        "sales_warehouse.zone_catalog": 1234, "sales_warehouse.empty": 0, "sales_warehouse.missing": None}
    public = WarehouseSource(name="public", table="deliverables_counted", url=warehouse_url, schema="public")
    assert parts("public", public) == {"public": 1234}
    lines = failures_of({"required": ["sales_warehouse"], "quarantine_of": {}, "max_quarantine_share": 0},
                        sales_warehouse={"zone_catalog": counted, "empty": empty, "missing": missing})
    assert lines == ["- sales_warehouse.empty: holds no rows (required)",
                     "- sales_warehouse.missing: not written (required)"]


@pytest.mark.integration
def test_a_warehouse_table_that_must_only_hold_data_is_probed_not_counted(warehouse_url, caplog):
    """A table keeping every run's rows grows with the runs: "holds data" reads one row, a share counts them all."""
    from cripto_platform.warehouse import transaction

    with transaction(warehouse_url, "test tables") as cursor:
        cursor.execute("DROP TABLE IF EXISTS deliverables_probed")
        cursor.execute("CREATE TABLE deliverables_probed AS SELECT generate_series(1, 500) AS id")
    table = WarehouseSource(name="probed", table="deliverables_probed", url=warehouse_url)

    caplog.set_level(logging.DEBUG, logger="cripto_platform.quality.deliverables")
    check_deliverables({"required": ["recommendations"], "quarantine_of": {}, "max_quarantine_share": 0.5},
                       recommendations=table)
    assert "deliverable sizes: recommendations >=1" in caplog.text
    caplog.clear()
    check_deliverables({"required": ["recommendations"], "quarantine_of": {"rejected": "recommendations"},
                        "max_quarantine_share": 0.5}, recommendations=table, rejected=frame(5))
    assert "recommendations 500" in caplog.text and "highest quarantine share 1.0% (rejected)" in caplog.text


def test_a_source_of_several_tables_is_compared_with_all_its_kept_rows():
    """sales_quarantine holds the rejects of every sales file (facts and catalogs): its share is of all of them."""
    rules = {"required": [], "max_quarantine_share": 0.5,
             "quarantine_of": {"sales_quarantine": ["sales_facts", "sales_zones"]}}
    check_deliverables(rules, sales_quarantine=frame(6), sales_facts=frame(5), sales_zones=frame(2))  # 6 of 13
    with pytest.raises(DeliverableCheckError, match=r"sales_quarantine: 6 of 11 rows quarantined \(54\.5%\) against "
                                                    r"sales_facts \+ sales_zones"):
        check_deliverables(rules, sales_quarantine=frame(6), sales_facts=frame(3), sales_zones=frame(2))
