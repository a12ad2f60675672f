"""Screenshots of kedro-viz and of a notebook chart for the README: ``python -m cripto_platform.screenshots``.

Runs the pipelines on small sizes in a throwaway copy of the project (its own ``data/`` and embedded
PostgreSQL), builds kedro-viz (``kedro viz build --include-previews``), serves it on 127.0.0.1 and takes the
pictures with headless Chromium (Debian's ``chromium`` package); the notebook chart is
``notebooks/recommendation.ipynb`` executed by a real kernel and rendered to HTML with nbconvert. Writes
``docs/images/kedro-viz.png`` (the default view: a group per pipeline), ``docs/images/kedro-viz-clustering.png``
(one pipeline opened) and ``docs/images/notebook-chart.png`` (``--out`` to change the folder).

The helpers (a temporary project, small runs, the viz build, a static server, Chromium) are shared with
``tests/viz/test_browser.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_ROOT.parents[1]

# Small sizes per pipeline (``--params`` overrides, as the integration tests use).
SMALL: dict[str, dict] = {
    "ingestion": {
        "ingestion.kaggle.source": "generator",
        "ingestion.kaggle.datasets.credit_risk.sample.n_rows": 400,
        "ingestion.kaggle.datasets.motor_temperature.sample.n_profiles": 3,
        "ingestion.kaggle.datasets.motor_temperature.sample.rows_per_profile": 50,
        "ingestion.kaggle.datasets.citesum.sample.n_papers": 120,
        "ingestion.sales.sample.n_points_of_sale": 8,
        "ingestion.sales.sample.n_sales_per_month": 150,
        "ingestion.sales.sample.months": 4,
        "ingestion.crypto.start_date": "2024-01-01",
        "ingestion.crypto.exchange.generated.listed_from": "2024-01-01",
        "ingestion.crypto.exchange.generated.until": "2024-03-01",
    },
    "payments": {"payments.sample_data.payments_per_day": 150, "payments.sample_data.n_clients": 400,
                 "payments.sample_data.n_companies": 60, "payments.window.lookback_days": 30},
    "recommendation": {},
    "clustering": {"clustering.sample_data.n_reservations": 800},
    "profiling": {},
}


def make_project(root: Path) -> Path:
    """A throwaway copy of ``conf/`` (no ``conf/local``) and ``pyproject.toml``: runs write its own ``data/``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    if (PROJECT_ROOT / ".telemetry").exists():
        shutil.copy(PROJECT_ROOT / ".telemetry", root / ".telemetry")
    (root / "src").mkdir(exist_ok=True)  # bootstrap_project checks it exists; the package is installed
    return root


def project_env(project: Path) -> dict[str, str]:
    """Environment for runs and ``kedro viz`` in ``project``: its own embedded warehouse, no telemetry."""
    from cripto_platform.warehouse import ENV_PGDATA, ENV_URL

    env = {key: value for key, value in os.environ.items() if key != ENV_URL}
    env[ENV_PGDATA] = str(project / "data" / "warehouse" / "pgdata")
    env["KEDRO_DISABLE_TELEMETRY"] = "1"
    return env


def run_pipeline(project: Path, pipeline: str, params: dict | None = None) -> None:
    """``kedro run --pipeline <pipeline>`` in ``project`` (a KedroSession in this process)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    nested: dict = {}
    for dotted, value in (params or {}).items():
        *parents, leaf = dotted.split(".")
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=nested) as session:
        session.run(pipeline_names=[pipeline])


@contextlib.contextmanager
def project_environment(project: Path) -> Iterator[None]:
    """This process inside ``project``: working directory and environment, restored (and its server stopped)."""
    from cripto_platform.warehouse import stop_embedded_server

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(project_env(project))
    os.chdir(project)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        with contextlib.suppress(Exception):
            stop_embedded_server(project / "data" / "warehouse" / "pgdata")


def viz_build(project: Path) -> Path:
    """``kedro viz build --include-previews`` in ``project``; returns its ``build/`` folder."""
    kedro = shutil.which("kedro", path=os.path.dirname(sys.executable)) or "kedro"
    done = subprocess.run([kedro, "viz", "build", "--include-previews"], cwd=project, env=project_env(project),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not (project / "build" / "api" / "main").exists():
        raise RuntimeError(f"kedro viz build failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")
    return project / "build"


def free_port() -> int:
    """A free port below 49152 (kedro viz refuses the ephemeral range the OS hands out for port 0)."""
    for port in random.sample(range(20000, 40000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 40000")


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving ``folder``; yields its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(folder)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"http.server did not start on port {port}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def chromium_path() -> str:
    """The Chromium binary (Debian's ``chromium``; ``CHROMIUM`` overrides)."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise FileNotFoundError("Chromium not found: apt-get install -y chromium (or set CHROMIUM)")


def _chromium(url: str, *args: str, budget_ms: int, size: tuple[int, int], timeout: float = 60) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
             f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
             f"--virtual-time-budget={budget_ms}", *args, url],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url} ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def dump_dom(url: str, budget_ms: int = 10000, size: tuple[int, int] = (1400, 900)) -> str:
    """The page's DOM after ``budget_ms`` of virtual time (scripts run, fetches answered)."""
    return _chromium(url, "--dump-dom", budget_ms=budget_ms, size=size)


def screenshot(url: str, out: Path, budget_ms: int = 10000, size: tuple[int, int] = (1400, 900)) -> Path:
    """A PNG of the page after ``budget_ms`` of virtual time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _chromium(url, f"--screenshot={out}", budget_ms=budget_ms, size=size)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot of {url}")
    return out


def shrink_png(path: Path, max_bytes: int = 200_000) -> Path:
    """Re-save ``path`` as a palette PNG (and smaller, if needed) so it stays under ``max_bytes`` (Pillow)."""
    try:
        from PIL import Image
    except ImportError:  # Chromium's PNG as it is
        return path
    image = Image.open(path).convert("RGB")
    while True:
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size <= max_bytes or image.width < 500:
            return path
        image = image.resize((int(image.width * 0.85), int(image.height * 0.85)), Image.Resampling.LANCZOS)


def viz_url(base: str, build: Path, dataset: str | None = None, pipeline: str = "__default__",
            theme: str = "light", expand: bool = False, sidebar: bool = True) -> str:
    """A page that opens kedro-viz on ``pipeline`` with ``dataset``'s node selected (its metadata panel open).

    It first sets kedro-viz's saved settings (``localStorage["KedroViz"]``: theme, no new-feature tour, the
    sidebar folded or not) on the same origin, then moves to the app, so a screenshot shows the flowchart
    rather than the tour.
    """
    import json

    query = f"?pid={pipeline}" + ("&expandAllPipelines=true" if expand else "")
    if dataset:
        nodes = json.loads((build / "api" / "main").read_text())["nodes"]
        node = next(n for n in nodes if n["name"] == dataset)
        query += f"&sid={node['id']}&sn={dataset}"
    settings = json.dumps({"theme": theme, "showFeatureHints": False,
                           **({} if sidebar else {"visible": {"sidebar": False}})})
    page = f"open-{pipeline}-{dataset or 'flowchart'}{'-expanded' if expand else ''}{'' if sidebar else '-wide'}.html"
    (build / page).write_text(
        "<!doctype html><meta charset=utf-8><script>"
        f"localStorage.setItem('KedroViz', JSON.stringify(Object.assign(JSON.parse(localStorage.getItem('KedroViz')"
        f" || '{{}}'), {settings})));location.replace('./' + {json.dumps(query)});</script>",
        encoding="utf-8")
    return f"{base}/{page}"


def notebook_chart_html(project: Path, out: Path, notebook: str = "recommendation.ipynb",
                        marker: str = "recommendation_evaluation_chart") -> Path:
    """Execute ``notebook`` against ``project`` (real kernel, plotly.js inline so the page works offline) and
    write the HTML of its chart cell (the cell whose source mentions ``marker``) with nbconvert."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    document = nbformat.read(PROJECT_ROOT / "notebooks" / notebook, as_version=4)
    workdir = project / "notebooks"
    workdir.mkdir(exist_ok=True)
    saved = os.environ.get("PLOTLY_RENDERER")
    os.environ["PLOTLY_RENDERER"] = "notebook"  # the kernel embeds plotly.js instead of loading it from a CDN
    try:
        NotebookClient(document, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        if saved is None:
            os.environ.pop("PLOTLY_RENDERER", None)
        else:
            os.environ["PLOTLY_RENDERER"] = saved
    chart = [cell for cell in document.cells if cell.cell_type == "code" and marker in cell.source]
    if not chart:
        raise ValueError(f"{notebook}: no code cell mentions {marker}")
    for cell in chart:  # the figure, not the catalog's log lines
        cell.outputs = [output for output in cell.outputs if output.get("output_type") != "stream"]
    document.cells = chart
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(document)
    out.write_text(body, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "images")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project (its path is printed)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cripto-screenshots-"))
    try:
        project = make_project(workdir / "project")
        with project_environment(project):
            for pipeline in ("ingestion", "payments", "recommendation", "clustering", "profiling"):
                print(f"running {pipeline} (small)", flush=True)
                run_pipeline(project, pipeline, SMALL[pipeline])
            print("executing notebooks/recommendation.ipynb", flush=True)
            page = notebook_chart_html(project, workdir / "notebook-chart.html")
            build = viz_build(project)  # previews read the project's warehouse, still running here
        shutil.copy(page, build / "notebook-chart.html")
        with static_server(build) as base:
            # the view kedro-viz opens with (sidebar folded: the flowchart gets the whole width), then one group
            viz = screenshot(viz_url(base, build, sidebar=False), args.out / "kedro-viz.png", budget_ms=20000,
                             size=(1400, 850))
            # one pipeline opened is tall (a row per layer and step), so a tall window keeps its labels readable
            group = screenshot(viz_url(base, build, pipeline="clustering", expand=True, sidebar=False),
                               args.out / "kedro-viz-clustering.png", budget_ms=15000, size=(1100, 1500))
            chart = screenshot(f"{base}/notebook-chart.html", args.out / "notebook-chart.png", budget_ms=8000,
                               size=(1000, 620))
        for path in (viz, group, chart):
            shrink_png(path)
            print(f"{path} ({path.stat().st_size // 1024} KB)")
    finally:
        if args.keep:
            print(f"project kept at {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
