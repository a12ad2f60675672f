"""Profiling pipeline: per table (namespaced, from ``tables.CANDIDATES``) profile → drift → page; then the run index.

Each table's nodes are independent of the others', so a parallel or Dask runner spreads them. Every branch
reads the earlier runs' reports from one dataset (``profiling_previous_reports``), and the index waits for
every page it links.
"""

from kedro.pipeline import Node, Pipeline

from cripto_platform.pipelines.profiling import nodes
from cripto_platform.quality.deliverables import check_deliverables_node
from cripto_platform.pipelines.profiling.tables import CANDIDATES, ProfiledTable

_PROFILERS = {"lake": nodes.profile_lake_table, "warehouse": nodes.profile_warehouse_table}


def _table(table: ProfiledTable) -> Pipeline:
    after = [f"after_{i}" for i in range(len(table.after))]
    template = Pipeline(
        [
            Node(
                func=_PROFILERS[table.kind],
                inputs=["source", "params:profiling.profile", "params:profiling.tables", "profiling_version", *after],
                outputs="profile",
                name="profile_table",
            ),
            Node(
                func=nodes.compare_with_previous,
                inputs=["profile", "previous_reports", "params:profiling.drift"],
                outputs="report",
                name="compare_with_previous",
            ),
            Node(func=nodes.render_table_page, inputs="report", outputs="page", name="render_table_page"),
        ]
    )
    return Pipeline(
        template,
        namespace=f"profiling_{table.name}",
        inputs={"source": table.source, "profiling_version": "profiling_version",
                "previous_reports": "profiling_previous_reports",
                **dict(zip(after, table.after, strict=True))},
        outputs={"report": f"{table.name}_profile_json", "page": f"{table.name}_profile_html"},
        parameters={"params:profiling.profile", "params:profiling.tables", "params:profiling.drift"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    reports = [f"{table.name}_profile_json" for table in CANDIDATES]
    pages = [f"{table.name}_profile_html" for table in CANDIDATES]
    return Pipeline(
        [
            Node(
                func=nodes.resolve_profiling_version,
                inputs="run_metadata",
                outputs="profiling_version",
                name="resolve_profiling_version",
            ),
            Node(
                func=nodes.open_lake_tables,
                inputs="ingestion_lake_tables",
                outputs={table.name: table.source for table in CANDIDATES if table.kind == "lake"},
                name="open_lake_tables",
            ),
            *(_table(table) for table in CANDIDATES),
            Node(func=nodes.summarise_profiles, inputs=reports, outputs="profiling_summary_report",
                 name="summarise_profiles"),
            Node(func=nodes.render_index, inputs=["profiling_summary_report", "profiling_version", *pages],
                 outputs="profiling_index_html", name="render_profiling_index"),
            Node(func=nodes.plot_profiles, inputs="profiling_summary_report", outputs="profiling_summary_chart",
                 name="plot_profiling_summary"),
            check_deliverables_node("profiling", "profiling_index_html", "profiling_summary_chart"),
        ]
    )
