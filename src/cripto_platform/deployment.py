"""Scheduled deployment (issue 15): which nodes run on Airflow, in which DAG, grouped into which tasks.

Every Airflow task is a Kedro session of its own (``session.run(pipeline_names=[...], node_names=[...])``),
possibly on another worker, so a dataset that lives only in memory (a catalog ``MemoryDataset``, or a name
the catalog does not know: Kedro makes it a ``MemoryDataset`` at run time) must never be produced in one
task and read in another: the reader would find nothing. ``task_groups`` puts every node that produces or
reads one in-memory dataset into the same task (connected components over in-memory edges), merges groups
whose dependencies would form a cycle, and orders the groups with Kedro's own node dependencies (transcoding
included: ``payments_l0@scd2`` before ``payments_l0@current``). ``crossing_memory_datasets`` is the check:
given any grouping it returns the in-memory datasets that cross a task (or DAG) boundary; the DAG generator
(``deploy/airflow/generate_dags.py``) refuses to write a DAG for which it is not empty, and
``tests/test_airflow_grouping.py`` asserts it for every deployed DAG.

Inputs no node produces (parameters, ``run_metadata`` which ``RunMetadataHooks`` puts in each session's
catalog, catalog datasets) never cross: each task's session provides them itself.

This module needs Kedro only, not Airflow (Airflow lives in ``deploy/airflow/.venv``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline

# Airflow's task_id: at most 250 characters of letters, digits, '-', '.', '_'.
_TASK_ID_MAX = 250
_TASK_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class DagSpec:
    """One deployed DAG: a slice of a registered pipeline.

    ``pipeline`` is the registered pipeline the tasks run (it must exist at run time: the DAG's tasks call
    ``session.run(pipeline_names=[pipeline], node_names=...)``); ``to_outputs`` keeps only the nodes needed
    for those datasets; ``exclude`` drops the nodes of other DAGs (their outputs are read from the catalog).
    Schedules are configuration: ``conf/airflow/airflow.yml`` under the DAG's ``name``.
    """

    name: str
    pipeline: str
    to_outputs: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # names of other DagSpecs whose nodes this one leaves out

    def nodes_of(self, pipelines: dict[str, Pipeline]) -> Pipeline:
        pipeline = pipelines[self.pipeline]
        if self.to_outputs:
            pipeline = pipeline.to_outputs(*self.to_outputs)
        for other in self.exclude:
            excluded = {node.name for node in DEPLOYED[other].nodes_of(pipelines).nodes}
            pipeline = Pipeline([node for node in pipeline.nodes if node.name not in excluded])
        return pipeline


# The DAGs deployed on Airflow (schedules in conf/airflow/airflow.yml):
# - companies: weekly, the companies dimension (seed 002's "companies" DAG);
# - payments: daily, bucket check, watermark window, batch, SCD2 merge and the payments index (seed 002's
#   payments DAG); it validates against companies_l0 as the last companies run left it;
# - crypto_batch: daily, the crypto candles in batch mode (seed 004's batch job): only the ingestion nodes
#   the crypto tables need (the Kaggle and sales sources are not scheduled);
# - clustering: on a schedule of its own (its input, the reservations table, is written outside these DAGs);
# - recommendation: when the payments DAG has updated payments_index (an Airflow asset).
DEPLOYED: dict[str, DagSpec] = {
    spec.name: spec
    for spec in (
        DagSpec("companies", "payments", to_outputs=("companies_l0",)),
        DagSpec("payments", "payments", exclude=("companies",)),
        DagSpec(
            "crypto_batch",
            "ingestion",
            to_outputs=(
                "crypto_candles_silver",
                "crypto_daily_features",
                "crypto_gaps_report",
            ),
        ),
        DagSpec("clustering", "clustering"),
        DagSpec("recommendation", "recommendation"),
    )
}


@dataclass
class TaskGroup:
    """One Airflow task: Kedro nodes run in one session. Attribute names follow kedro-airflow's
    ``GroupedNodes`` (``name``, ``type``, ``nodes``, ``dependencies``) so its template can render them."""

    name: str
    nodes: list[str]
    dependencies: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    type: str = "nodes"

    @property
    def task_id(self) -> str:
        return self.name


def is_memory_dataset(catalog: Any, name: str) -> bool:
    """A catalog ``MemoryDataset`` or a name the catalog does not know (parameters are never in memory here:
    every session loads them from configuration)."""
    if name == "parameters" or name.startswith("params:"):
        return False
    if name not in catalog:
        return True
    return isinstance(catalog.get(name), MemoryDataset)


def _node_dependencies(pipeline: Pipeline) -> dict[str, set[str]]:
    """node name -> names of the nodes it depends on (Kedro's own, transcoding-aware)."""
    return {child.name: {parent.name for parent in parents} for child, parents in pipeline.node_dependencies.items()}


def _task_name(node_names: list[str]) -> str:
    """A node's own name for a one-node task; ``<namespace>.<first>-to-<last>`` for a group."""
    if len(node_names) == 1:
        name = node_names[0]
    else:
        first, last = node_names[0], node_names[-1]
        namespace, _, first_short = first.rpartition(".")
        last_short = last[len(namespace) + 1 :] if namespace and last.startswith(namespace + ".") else last
        name = f"{namespace + '.' if namespace else ''}{first_short}-to-{last_short}"
    return _TASK_ID_BAD.sub("_", name)[:_TASK_ID_MAX]


def _toposort_groups(members: dict[int, set[str]], deps: dict[str, set[str]], group_of: dict[str, int]):
    """Groups in dependency order, or the ids of a cycle's groups (to merge) when there is one."""
    edges = {g: {group_of[p] for n in nodes for p in deps[n]} - {g} for g, nodes in members.items()}
    order, state = [], {}

    def visit(g, stack):
        state[g] = 1
        stack.append(g)
        for parent in sorted(edges[g]):
            if state.get(parent) == 1:
                return stack[stack.index(parent) :]
            if parent not in state:
                cycle = visit(parent, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[g] = 2
        order.append(g)
        return None

    for g in sorted(members):
        if g not in state:
            cycle = visit(g, [])
            if cycle:
                return None, cycle
    return order, None


def task_groups(pipeline: Pipeline, catalog: Any) -> list[TaskGroup]:
    """Group ``pipeline``'s nodes into Airflow tasks so that no in-memory dataset crosses a task boundary.

    Nodes joined by an in-memory dataset (its producer and every reader) share a task; a node with only
    persisted inputs and outputs is a task of its own. Groups whose dependencies would form a cycle are
    merged. Returned in dependency order, each with the groups it depends on.
    """
    ordered_nodes = [node.name for node in pipeline.nodes]  # Kedro's topological order
    position = {name: i for i, name in enumerate(ordered_nodes)}
    parent = {name: name for name in ordered_nodes}

    def find(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb, key=position.get)] = min(ra, rb, key=position.get)

    producers = {output: node.name for node in pipeline.nodes for output in node.outputs}
    for node in pipeline.nodes:
        for name in node.inputs:
            if name in producers and is_memory_dataset(catalog, name):
                union(producers[name], node.name)

    deps = _node_dependencies(pipeline)
    while True:
        roots = sorted({find(n) for n in ordered_nodes}, key=position.get)
        group_id = {root: i for i, root in enumerate(roots)}
        group_of = {n: group_id[find(n)] for n in ordered_nodes}
        members: dict[int, set[str]] = {}
        for n in ordered_nodes:
            members.setdefault(group_of[n], set()).add(n)
        order, cycle = _toposort_groups(members, deps, group_of)
        if cycle is None:
            break
        first = next(iter(members[cycle[0]]))
        for g in cycle[1:]:
            union(first, next(iter(members[g])))

    groups: dict[int, TaskGroup] = {}
    by_node = {node.name: node for node in pipeline.nodes}
    for g in order:
        names = sorted(members[g], key=position.get)
        groups[g] = TaskGroup(
            name=_task_name(names),
            nodes=names,
            # datasets, not their transcoded views: reservation_clusters@table publishes reservation_clusters
            outputs=sorted({o.split("@")[0] for n in names for o in by_node[n].outputs}),
        )
    for g in order:
        parents = sorted({group_of[p] for n in members[g] for p in deps[n]} - {g}, key=order.index)
        groups[g].dependencies = [groups[p].name for p in parents]
    return [groups[g] for g in order]


def crossing_memory_datasets(
    pipeline: Pipeline,
    catalog: Any,
    groups: Iterable[Iterable[str]],
    full_pipeline: Pipeline | None = None,
) -> dict[str, list[str]]:
    """In-memory datasets that cross a task boundary under ``groups`` (each a list of node names).

    A dataset crosses when a node of ``pipeline`` reads it and its producer is in another group, or outside
    the deployed slice (``full_pipeline``: the registered pipeline the slice was cut from). Returns
    ``{dataset: [producer -> reader, ...]}``; empty when the grouping is safe. Raises ``ValueError`` when
    the groups do not cover the pipeline's nodes exactly once.
    """
    group_of: dict[str, int] = {}
    for i, group in enumerate(groups):
        for name in group:
            if name in group_of:
                raise ValueError(f"node {name} is in two groups")
            group_of[name] = i
    names = {node.name for node in pipeline.nodes}
    if set(group_of) != names:
        missing, extra = sorted(names - set(group_of)), sorted(set(group_of) - names)
        raise ValueError(f"groups do not match the pipeline's nodes: missing {missing}, unknown {extra}")

    source = full_pipeline if full_pipeline is not None else pipeline
    producers = {output: node.name for node in source.nodes for output in node.outputs}
    crossing: dict[str, list[str]] = {}
    for node in pipeline.nodes:
        for name in node.inputs:
            producer = producers.get(name)
            if producer is None or not is_memory_dataset(catalog, name):
                continue
            if producer not in group_of:
                crossing.setdefault(name, []).append(f"{producer} (not in this DAG) -> {node.name}")
            elif group_of[producer] != group_of[node.name]:
                crossing.setdefault(name, []).append(f"{producer} -> {node.name}")
    return crossing


def check_groups(spec: DagSpec, groups: list[TaskGroup], pipelines: dict[str, Pipeline], catalog: Any) -> None:
    """Raise ``ValueError`` naming every in-memory dataset that would cross a task or DAG boundary."""
    crossing = crossing_memory_datasets(
        spec.nodes_of(pipelines), catalog, [g.nodes for g in groups], full_pipeline=pipelines[spec.pipeline]
    )
    if crossing:
        lines = "; ".join(f"{name}: {', '.join(edges)}" for name, edges in sorted(crossing.items()))
        raise ValueError(f"DAG {spec.name}: in-memory datasets cross a task boundary: {lines}")


def load_catalog(project_path: str | Path = ".", env: str | None = None):
    """The project's catalog for ``env`` (no run: hooks do not fire, nothing is read or written)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        return session.load_context().catalog


def deployed_groups(catalog: Any, pipelines: dict[str, Pipeline] | None = None) -> dict[str, list[TaskGroup]]:
    """Every deployed DAG's task groups, checked (``ValueError`` when an in-memory dataset would cross)."""
    if pipelines is None:
        from kedro.framework.project import pipelines as registered

        pipelines = dict(registered)
    result = {}
    for spec in DEPLOYED.values():
        groups = task_groups(spec.nodes_of(pipelines), catalog)
        check_groups(spec, groups, pipelines, catalog)
        result[spec.name] = groups
    return result
