"""Every pipeline ends with check_deliverables reading all it delivers, with rules that name only what it reads."""

import pytest
from kedro.config import OmegaConfigLoader

from cripto_platform.quality.deliverables import DeliverablesParams, check_deliverables
from tests.conftest import PROJECT_ROOT


def _pipelines():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return {name: pipeline for name, pipeline in pipelines.items() if name != "__default__"}


PARAMETERS = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")["parameters"]


@pytest.mark.parametrize("name", sorted(_pipelines()))
def test_the_check_reads_every_output_no_other_node_reads(name):
    """An output nobody reads is a deliverable the check would miss (and kedro-viz would draw outside the group)."""
    pipelines = _pipelines()
    everything_read = {dataset.split("@")[0] for pipeline in pipelines.values() for dataset in pipeline.all_inputs()}
    unread = sorted(o for o in pipelines[name].all_outputs() if o.split("@")[0] not in everything_read)
    assert not unread, f"{name}: {unread} are read by no node, not even {name}.check_deliverables"


@pytest.mark.parametrize("name", sorted(_pipelines()))
def test_the_rules_name_only_what_the_check_reads(name):
    (check,) = [node for node in _pipelines()[name].nodes if node.name == f"{name}.check_deliverables"]
    assert check.func is check_deliverables and not check.outputs
    reads = set(check._inputs) - {"rules"}  # the function's keyword names, i.e. the names the rules use
    assert check._inputs["rules"] == f"params:{name}.deliverables"
    rules = DeliverablesParams.model_validate(PARAMETERS[name]["deliverables"])
    kept = {name for value in rules.quarantine_of.values() for name in ([value] if isinstance(value, str) else value)}
    named = {*rules.required, *rules.quarantine_of, *kept}
    assert named <= reads, (name, sorted(named - reads))
    assert rules.required, f"{name}: nothing required"


def test_the_ingestion_check_and_record_read_the_lake_at_the_run_s_version():
    """A backfill (ingestion.version, on the command line or in a parameters file) writes an older version than the
    newest: the record and the check look at that version, not the newest the scans load."""
    (record,) = [node for node in _pipelines()["ingestion"].nodes if node.name == "ingestion.record_lake_tables"]
    (check,) = [node for node in _pipelines()["ingestion"].nodes if node.name == "ingestion.check_deliverables"]
    assert record._inputs["version"] == check._inputs["run_version"] == "ingestion_version"
    assert "ingestion_lake_tables" in check.inputs  # the check runs after the record: last in the pipeline


def test_every_check_runs_after_every_other_node_of_its_pipeline():
    """The check is the pipeline's last node, so a failed check stops nothing that was still to be written (and an
    Airflow DAG publishes its asset from it)."""
    for name, pipeline in _pipelines().items():
        (check,) = [node for node in pipeline.nodes if node.name == f"{name}.check_deliverables"]
        upstream = {node.name for node in pipeline.to_nodes(check.name).nodes}
        assert upstream == {node.name for node in pipeline.nodes}, (name, sorted({n.name for n in pipeline.nodes} - upstream))
