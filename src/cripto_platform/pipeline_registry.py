"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline under ``pipelines/``; ``__default__`` runs them all.

    In ``__default__`` each pipeline is a namespace of its own name, so kedro-viz opens on one
    collapsible group per pipeline; datasets keep their names (``prefix_datasets_with_namespace=False``)
    and ``kedro run --pipeline <name>`` keeps the plain node names.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (Pipeline(pipeline, namespace=name, prefix_datasets_with_namespace=False)
         for name, pipeline in pipelines.items()),
        Pipeline([]),
    )
    return pipelines
