"""Load the generated DAGs in Airflow's DagBag: fail on any import error, print each DAG's schedule and tasks.

Run with the Airflow environment's python: deploy/airflow/.venv/bin/python deploy/airflow/load_dags.py [DAGS_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

try:  # Airflow >= 3.1
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.models.dagbag import DagBag

EXPECTED = {"companies", "payments", "crypto_batch", "clustering", "recommendation"}


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "dags")
    bag = DagBag(dag_folder=str(folder))  # AIRFLOW__CORE__LOAD_EXAMPLES=False keeps the examples out
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"IMPORT ERROR {path}:\n{error}", file=sys.stderr)
        return 1
    for dag_id, dag in sorted(bag.dags.items()):
        schedule = getattr(dag, "timetable", None)
        summary = getattr(schedule, "summary", None) or getattr(dag, "schedule", None)
        print(f"{dag_id}: schedule {summary}; {len(dag.tasks)} tasks: {', '.join(t.task_id for t in dag.tasks)}")
    # cripto_platform_<name>, or cripto_platform_<env>_<name> for DAGs generated with --env
    missing = {name for name in EXPECTED if not any(d.startswith("cripto_platform_") and d.endswith(f"_{name}") for d in bag.dags)}
    if missing:
        print(f"missing DAGs: {sorted(missing)}", file=sys.stderr)
        return 1
    print(f"DagBag: {len(bag.dags)} DAGs, no import errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
