"""Airflow task grouping (issue 15): no in-memory dataset crosses a task boundary in the deployed DAGs.

Fast and Airflow-free: the groups come from ``cripto_platform.deployment`` (which the DAG generator in
``deploy/airflow/`` renders), checked against the project's real catalog. The Airflow check itself
(``deploy/airflow/check.sh``: DagBag import, ``airflow dags test``) is not part of the suite.
"""

from __future__ import annotations

import pytest
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline, node

from cripto_platform.deployment import (
    DEPLOYED,
    check_groups,
    crossing_memory_datasets,
    deployed_groups,
    task_groups,
)
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def project():
    """(registered pipelines, catalog) of the checkout's ``local`` environment: nothing is run."""
    from kedro.framework.project import pipelines

    from cripto_platform.deployment import load_catalog

    catalog = load_catalog(PROJECT_ROOT)
    return dict(pipelines), catalog


def test_deployed_dags_keep_every_in_memory_dataset_inside_one_task(project):
    pipelines, catalog = project
    groups = deployed_groups(catalog, pipelines)  # raises when one would cross
    assert set(groups) == {"companies", "payments", "crypto_batch", "clustering", "recommendation"}
    for name, spec in DEPLOYED.items():
        sliced = spec.nodes_of(pipelines)
        assert (
            crossing_memory_datasets(
                sliced, catalog, [g.nodes for g in groups[name]], full_pipeline=pipelines[spec.pipeline]
            )
            == {}
        )
        # every node of the slice in exactly one task, task ids unique and valid for Airflow
        assert sorted(n for g in groups[name] for n in g.nodes) == sorted(n.name for n in sliced.nodes)
        ids = [g.task_id for g in groups[name]]
        assert len(set(ids)) == len(ids) and all(len(i) <= 250 for i in ids)


def test_task_dependencies_follow_kedro_including_transcoding(project):
    pipelines, catalog = project
    for name, groups in deployed_groups(catalog, pipelines).items():
        spec = DEPLOYED[name]
        sliced = spec.nodes_of(pipelines)
        group_of = {n: g for g in groups for n in g.nodes}
        seen = set()
        for g in groups:  # dependency order: a task's parents come before it
            assert set(g.dependencies) <= seen, (name, g.name)
            seen.add(g.name)
        for child, parents in sliced.node_dependencies.items():
            for parent in parents:
                if group_of[parent.name] is not group_of[child.name]:
                    assert group_of[parent.name].name in group_of[child.name].dependencies


def test_companies_and_payments_dags_split_the_payments_pipeline(project):
    pipelines, _ = project
    companies = {n.name for n in DEPLOYED["companies"].nodes_of(pipelines).nodes}
    payments = {n.name for n in DEPLOYED["payments"].nodes_of(pipelines).nodes}
    assert companies == {"payments.fetch_companies", "payments.prepare_companies"}
    assert companies.isdisjoint(payments)
    assert companies | payments == {n.name for n in pipelines["payments"].nodes}
    crypto = {n.name for n in DEPLOYED["crypto_batch"].nodes_of(pipelines).nodes}
    assert "ingestion.fetch_crypto_candles" in crypto
    assert not any("kaggle" in n or "sales" in n for n in crypto)


def test_one_task_per_node_is_caught(project):
    pipelines, catalog = project
    payments = DEPLOYED["payments"].nodes_of(pipelines)
    crossing = crossing_memory_datasets(payments, catalog, [[n.name] for n in payments.nodes])
    # names the catalog does not know (payments_window, payments_batch_raw)
    assert {"payments_window", "payments_batch_raw"} <= set(crossing)
    assert "payments.compute_payments_window -> payments.fetch_payments_batch" in crossing["payments_window"]
    # persisted datasets (payments_batch is a parquet file), parameters and the hook's run_metadata never count
    assert not {"companies_l0", "payments_batch", "payments_l0@scd2", "run_metadata",
                "params:payments.merge"} & set(crossing)

    recommendation = pipelines["recommendation"]
    crossing = crossing_memory_datasets(recommendation, catalog, [[n.name] for n in recommendation.nodes])
    assert "company_index_candidate" in crossing  # a catalog MemoryDataset: the unpicklable Annoy index

    with pytest.raises(ValueError, match="cross a task boundary: .*payments_window"):
        from cripto_platform.deployment import TaskGroup

        check_groups(DEPLOYED["payments"], [TaskGroup(n.name, [n.name]) for n in payments.nodes], pipelines, catalog)


def test_a_producer_left_out_of_the_dag_is_caught(project):
    pipelines, catalog = project
    crypto = DEPLOYED["crypto_batch"].nodes_of(pipelines)
    without = Pipeline([n for n in crypto.nodes if n.name != "ingestion.resolve_ingestion_version"])
    crossing = crossing_memory_datasets(
        without, catalog, [[n.name for n in without.nodes]], full_pipeline=pipelines["ingestion"]
    )
    assert "ingestion_version" in crossing
    assert "(not in this DAG)" in crossing["ingestion_version"][0]


class _Catalog(dict):
    """The two calls the grouping makes on a catalog: ``in`` and ``get``."""


def _identity(x):
    return x


def test_groups_that_would_form_a_cycle_are_merged():
    # a -> m (memory) -> c, and a -> x -> b -> y -> c through persisted datasets: grouping {a, c} alone
    # would need b both after and before it, so b joins them.
    pipeline = Pipeline(
        [
            node(lambda s: (s, s), "source", ["m", "x"], name="a"),
            node(_identity, "x", "y", name="b"),
            node(lambda m, y: m, ["m", "y"], "out", name="c"),
            node(_identity, "out", "report", name="d"),
        ]
    )
    catalog = _Catalog(source=object(), x=object(), y=object(), out=object(), report=object())
    groups = task_groups(pipeline, catalog)
    assert [g.nodes for g in groups] == [["a", "b", "c"], ["d"]]
    assert groups[1].dependencies == [groups[0].name]
    assert crossing_memory_datasets(pipeline, catalog, [g.nodes for g in groups]) == {}

    catalog["m"] = MemoryDataset()  # a catalog MemoryDataset is in memory too
    assert crossing_memory_datasets(pipeline, catalog, [["a", "b"], ["c", "d"]]) == {"m": ["a -> c"]}


def test_a_dag_with_deliverable_checks_publishes_its_assets_only_after_them():
    """An asset published by the task that writes it triggers the downstream DAG even when the pipeline's
    check_deliverables then fails: a DAG holding that check publishes from it (its last task)."""
    import re

    dags = sorted((PROJECT_ROOT / "deploy" / "airflow" / "dags").glob("*_dag.py"))
    assert dags
    checked = 0
    for dag in dags:
        text = dag.read_text()
        publishing = re.findall(r'task_id="([^"]+)",\n\s+outlets=\[', text)
        if ".check_deliverables" in text:
            checked += 1
            assert publishing and all(task.endswith(".check_deliverables") for task in publishing), (dag.name, publishing)
    assert checked == 3  # clustering, payments, recommendation (companies and crypto_batch run no check)
