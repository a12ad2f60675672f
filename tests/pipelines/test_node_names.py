"""Node names say what their function does: a node is named after the function it runs (issue 13 item 4)."""

from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT

# Not renamed yet: the profiling branches (one function per table kind under a shared
# node name).
KNOWN = {
    "profiling.plot_profiling_summary", "profiling.render_profiling_index",
}


def _mismatches() -> dict[str, str]:
    bootstrap_project(PROJECT_ROOT)
    found = {}
    for name, pipeline in pipelines.items():
        for node in pipeline.nodes:
            function = getattr(node.func, "__name__", "")
            if node.name.rsplit(".", 1)[-1] != function and not node.name.endswith(".profile_table"):
                found[node.name] = function
    return found


def test_every_node_is_named_after_its_function():
    assert set(_mismatches()) <= KNOWN, {n: f for n, f in _mismatches().items() if n not in KNOWN}
