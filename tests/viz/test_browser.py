"""What a person looks at, in a real browser (headless Chromium from Debian's ``chromium`` package).

A small clustering run plus the profiling of its warehouse tables in a throwaway project, then
``kedro viz build --include-previews`` served by ``python -m http.server`` on 127.0.0.1: the flowchart
draws named nodes in layer bands, a plotly chart draws in a dataset's panel, and the profiling index and a
table page draw their inline SVG charts with the network cut off. Screenshots go to
``data/08_reporting/screenshots/`` of the checkout.
"""

from __future__ import annotations

import re
import shutil
import urllib.parse

import pytest

from cripto_platform import screenshots as shots
from tests.conftest import PROJECT_ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
                       reason="Chromium is not installed (apt-get install -y chromium; .ci/run installs it)"),
]

SCREENSHOTS = PROJECT_ROOT / "data" / "08_reporting" / "screenshots"
GROUPS = {"clustering", "ingestion", "payments", "profiling", "recommendation"}
OFFLINE = ("--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")  # any request off file:// fails


def _texts(dom: str, css_class: str) -> list[str]:
    return re.findall(rf'class="{css_class}(?: [^"]*)?"[^>]*>([^<]*)<', dom)


# The flowchart's left edge with the sidebar open (kedro-viz 12.5: a 400 px panel and an 80 px rail); the graph is
# drawn from there to the window's right edge.
SIDEBAR_PX = 480
GRAPH = re.compile(r'id="pipeline-graph"[^>]*width="(\d+)" height="(\d+)"')
NODE = re.compile(r'<g[^>]*class="pipeline-node pipeline-node--(\w+)[^"]*" '
                  r'transform="translate\(([-\d.]+), ([-\d.]+)\)"(?: data-id="([\w.]+)")?[^>]*>\s*'
                  r'<rect class="pipeline-node__bg[^"]*" width="([\d.]+)" height="([\d.]+)"')


def _opening_view(dom: str) -> tuple[float, set[str]]:
    """The zoom at which the flowchart opens (kedro-viz fits the laid-out graph into the area right of the
    sidebar) and the collapsed groups drawn. The fit is computed from the layout, not read from the zoom
    transform: headless Chromium may dump the page before that transition ends."""
    width, height = (int(value) for value in GRAPH.search(dom).groups())
    nodes = [(float(x), float(y), float(w), float(h)) for _, x, y, _, w, h in NODE.findall(dom)]
    assert nodes, "no flowchart drawn"
    graph_w = max(x + w / 2 for x, _, w, _ in nodes) - min(x - w / 2 for x, _, w, _ in nodes)
    graph_h = max(y + h / 2 for _, y, _, h in nodes) - min(y - h / 2 for _, y, _, h in nodes)
    groups = {name for kind, _, _, name, _, _ in NODE.findall(dom) if kind == "modularPipeline"}
    return min((width - SIDEBAR_PX) / graph_w, height / graph_h), groups


@pytest.fixture(scope="module")
def built_project(tmp_path_factory):
    """clustering (small) and the profiling of its two warehouse tables, then the viz build, in one project."""
    project = shots.make_project(tmp_path_factory.mktemp("viz-browser") / "project")
    with shots.project_environment(project):
        shots.run_pipeline(project, "clustering", shots.SMALL["clustering"])
        shots.run_pipeline(project, "profiling", {"profiling.tables.include": ["reservations", "reservation_clusters"]})
        build = shots.viz_build(project)  # previews read the project's warehouse: still running here
    return project, build


def test_flowchart_draws_named_nodes_in_layers_and_a_chart(built_project):
    _, build = built_project
    with shots.static_server(build) as base:
        default = shots.dump_dom(shots.viz_url(base, build), budget_ms=12000)
        layers = _texts(default, "pipeline-layer-name")
        names = set(_texts(default, "pipeline-node__text"))
        assert layers and layers == [layer for layer in ("raw", "intermediate", "primary", "feature", "model_input",
                                                          "models", "model_output", "reporting") if layer in layers]
        assert {"raw", "reporting"} <= set(layers)
        assert GROUPS <= names, f"groups drawn: {sorted(names & GROUPS)}"  # collapsed pipelines, by name
        # It opens on the five groups, the whole graph on screen at a zoom where the labels can be read: beside 102
        # loose datasets the groups opened at 10%, beside 46 (every deliverable drawn outside its group) at 23%.
        scale, groups = _opening_view(default)
        assert groups == GROUPS, sorted(groups)
        assert scale >= 0.5, f"the default view opens at {scale:.0%}"
        assert "reservation_clusters" in names  # a dataset between two pipelines stays between their groups
        assert "cluster_projection_chart" not in names  # a deliverable is inside its (collapsed) group

        chart_page = shots.viz_url(base, build, "cluster_projection_chart", pipeline="clustering")
        panel = shots.dump_dom(chart_page, budget_ms=12000)
        assert "js-plotly-plot" in panel and "main-svg" in panel, "the plotly chart did not draw"
        assert "on the first two principal components" in panel
        assert "clustering" in _texts(panel, "pipeline-node__text")  # the pipeline's own view: its group

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shots.screenshot(shots.viz_url(base, build), SCREENSHOTS / "kedro-viz-default.png", budget_ms=12000)
        shots.screenshot(chart_page, SCREENSHOTS / "kedro-viz-cluster-chart.png", budget_ms=12000)
    for name in ("kedro-viz-default.png", "kedro-viz-cluster-chart.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000


def test_profiling_pages_draw_their_charts_offline(built_project):
    project, _ = built_project
    (run,) = sorted(p for p in (project / "data/08_reporting/profiling").iterdir() if p.is_dir())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in ("index.html", "reservations.html"):
        url = (run / page).as_uri()
        dom = shots._chromium(url, "--dump-dom", *OFFLINE, budget_ms=3000, size=(1200, 900))
        body = urllib.parse.unquote(dom)
        if page == "index.html":  # the run's table of tables, linking each page
            assert 'href="reservations.html"' in body and 'href="reservation_clusters.html"' in body
        else:  # inline SVG charts, one per column at least, drawn with no network
            assert len(re.findall(r"<svg", body)) >= 2 and "adr" in body, f"{page}: no inline SVG charts"
        shots._chromium(url, f"--screenshot={SCREENSHOTS / ('profiling-' + page.replace('.html', '.png'))}",
                        *OFFLINE, budget_ms=3000, size=(1200, 900))
        assert (SCREENSHOTS / f"profiling-{page.replace('.html', '.png')}").stat().st_size > 5_000
