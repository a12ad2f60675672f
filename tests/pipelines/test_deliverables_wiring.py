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
    named = {*rules.required, *rules.quarantine_of, *rules.quarantine_of.values()}
    assert named <= reads, (name, sorted(named - reads))
    assert rules.required, f"{name}: nothing required"


def test_the_lake_scans_read_the_version_the_run_writes():
    """A backfill (--params ingestion.version=...) writes an older version than the newest: its checks and its
    record must read that version, not the newest."""
    from cripto_platform.pipelines.ingestion.pipeline import LAKE_TABLES

    def scans(runtime_params):
        catalog = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base",
                                    runtime_params=runtime_params)["catalog"]
        return {catalog[f"{table}@scan"].get("load_version") for table in LAKE_TABLES}

    assert scans({}) == {None}  # the newest: what a run without a version writes (its own date)
    assert {str(version) for version in scans({"ingestion": {"version": "20240301"}})} == {"20240301"}
