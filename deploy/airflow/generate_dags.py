"""Write the Airflow DAGs of cripto_platform.deployment.DEPLOYED with kedro-airflow's rendering.

Run with the Airflow environment's python (deploy/airflow/.venv, where kedro-airflow is installed):

    deploy/airflow/.venv/bin/python deploy/airflow/generate_dags.py [--env local|cloud] [--target-dir DIR]

Why not bare ``kedro airflow create``: two of the DAGs (companies, crypto_batch) are slices of registered
pipelines, not registered pipelines, and kedro-airflow 0.11's ``--group-by memory`` names a group's task by
joining all its node names (the payments group's task_id would be far over Airflow's 250 characters) and
maps dependencies by dataset name, missing transcoded ones (payments_l0@scd2 -> payments_l0@current).
So the groups come from cripto_platform.deployment.task_groups, checked by check_groups (a DAG in which an
in-memory dataset would cross a task boundary is not written), and are rendered with kedro-airflow's
configuration merge (``default`` + the DAG's block of conf/airflow/airflow.yml) and jinja setup into
deploy/airflow/dag_template.j2 (kedro-airflow's template, plus assets and a configurable project path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jinja2
import yaml
from kedro_airflow.plugin import _get_pipeline_config
from slugify import slugify

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="Kedro environment the tasks run in (local, cloud)")
    parser.add_argument("--target-dir", type=Path, default=HERE / "dags")
    parser.add_argument("--dags", default="", help="comma-separated DAG names (default: every deployed DAG)")
    parser.add_argument("--config", type=Path, default=PROJECT / "conf" / "airflow" / "airflow.yml")
    parser.add_argument("--retries", type=int, default=None, help="override every DAG's retries (check.sh: 0)")
    args = parser.parse_args(argv)

    from kedro.framework.project import pipelines

    from cripto_platform.deployment import DEPLOYED, check_groups, load_catalog, task_groups

    catalog = load_catalog(PROJECT, env=args.env)  # bootstraps the project
    registered = dict(pipelines)
    config = yaml.safe_load(args.config.read_text()) or {}

    jinja_env = jinja2.Environment(
        autoescape=True, loader=jinja2.FileSystemLoader(HERE), lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    jinja_env.filters["slugify"] = slugify
    template = jinja_env.get_template("dag_template.j2")
    args.target_dir.mkdir(parents=True, exist_ok=True)

    names = [n for n in args.dags.split(",") if n] or list(DEPLOYED)
    package = "cripto_platform"
    for name in names:
        spec = DEPLOYED[name]
        groups = task_groups(spec.nodes_of(registered), catalog)
        check_groups(spec, groups, registered, catalog)  # ValueError naming the crossing datasets
        dag_config = {
            "schedule": None,
            "schedule_assets": [],
            "outlets": [],
            **_get_pipeline_config(config, {} if args.retries is None else {"retries": args.retries}, name),
        }
        # A DAG with the pipeline's check_deliverables (its last task) publishes its assets from that task, so a run
        # whose checks fail triggers no downstream DAG.
        check_task = next((group.task_id for group in groups
                           if any(node.endswith(".check_deliverables") for node in group.nodes)), None)
        env_prefix = "" if args.env == "local" else f"{args.env}_"
        path = args.target_dir / f"{package}_{env_prefix}{name}_dag.py"
        template.stream(
            dag_name=package,
            package_name=package,
            pipeline_name=name,
            kedro_pipeline=spec.pipeline,
            env=args.env,
            env_prefix=env_prefix,
            conf_source="",
            node_objs=groups,
            check_task=check_task,
            **dag_config,
        ).dump(str(path))
        print(f"{path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path}: {len(groups)} tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
