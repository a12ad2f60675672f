"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline under ``pipelines/``, each in a namespace of its own name; ``__default__`` runs them all.

    The namespaces are what kedro-viz draws as collapsible groups (the default view opens as one group per
    pipeline). Datasets keep their names (``prefix_datasets_with_namespace=False``); node names carry the
    pipeline's name: ``kedro run --pipeline clustering --from-nodes clustering.clean_reservations``.
    """
    pipelines = {
        name: Pipeline(pipeline, namespace=name, prefix_datasets_with_namespace=False)
        for name, pipeline in find_pipelines(raise_errors=True).items()
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
