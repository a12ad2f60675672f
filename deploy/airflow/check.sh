#!/usr/bin/env bash
# Airflow check (not part of the test suite): a separate virtual environment with Airflow 3 + kedro-airflow +
# this project, the DAGs generated, loaded in Airflow's DagBag with no import errors, and the companies and
# payments DAGs run with `airflow dags test` on SQLite against the embedded defaults (a throwaway project
# directory and warehouse: the checkout's data/ is not touched).
#
#   deploy/airflow/check.sh            # reuses deploy/airflow/.venv when it exists
#   FRESH=1 deploy/airflow/check.sh    # recreates it
#   DAGS="payments" deploy/airflow/check.sh   # which DAGs to run (default: companies, payments, recommendation)
#   KEEP=1 deploy/airflow/check.sh     # keep the temporary directory (logs, project, warehouse)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3}"
LOGICAL_DATE="${LOGICAL_DATE:-2026-01-05}"
DAGS="${DAGS:-companies payments recommendation}"
export KEDRO_DISABLE_TELEMETRY=1

step() { printf '\n== %s (%ss since start)\n' "$1" "$SECONDS"; }

step "virtual environment $VENV"
if [[ "${FRESH:-0}" == 1 ]]; then rm -rf "$VENV"; fi
if [[ ! -x "$VENV/bin/airflow" ]]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  (cd "$HERE" && "$VENV/bin/pip" install --quiet "apache-airflow>=3,<4" "kedro-airflow>=0.11" -e ../..)
fi
"$VENV/bin/pip" list 2>/dev/null | grep -E -i '^(apache-airflow|apache-airflow-core|kedro|kedro-airflow|cripto.platform) '

WORK="$(mktemp -d -t cripto-airflow-XXXXXX)"
cleanup() {
  if [[ -d "$WORK/pgdata" ]]; then
    "$VENV/bin/python" -c "import sys; from cripto_platform.warehouse import stop_embedded_server; stop_embedded_server(sys.argv[1])" "$WORK/pgdata" || true
  fi
  if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step "generate the DAGs into $HERE/dags"
(cd "$PROJECT" && "$VENV/bin/python" "$HERE/generate_dags.py" --target-dir "$HERE/dags")

export AIRFLOW_HOME="$WORK/airflow"
# dags test runs a copy without retries (a failing task would otherwise wait retry_delay, 5 minutes)
"$VENV/bin/python" "$HERE/generate_dags.py" --target-dir "$WORK/dags" --retries 0 | grep -v '^ ' >/dev/null
export AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$WORK/airflow/airflow.db"
mkdir -p "$AIRFLOW_HOME"

step "airflow db migrate (SQLite in $AIRFLOW_HOME)"
"$VENV/bin/airflow" db migrate >"$WORK/db-migrate.log" 2>&1 || { tail -40 "$WORK/db-migrate.log"; exit 1; }

step "DagBag"
"$VENV/bin/python" "$HERE/load_dags.py" "$HERE/dags"

# A throwaway project directory: conf/ (no local credentials), pyproject.toml; data/ and the warehouse there.
RUN_DIR="$WORK/project"
mkdir -p "$RUN_DIR/src" "$RUN_DIR/conf/local"
cp -r "$PROJECT/conf/base" "$PROJECT/conf/cloud" "$PROJECT/conf/logging.yml" "$RUN_DIR/conf/"
cp "$PROJECT/pyproject.toml" "$RUN_DIR/"
[[ -f "$PROJECT/.telemetry" ]] && cp "$PROJECT/.telemetry" "$RUN_DIR/"
export CRIPTO_PLATFORM_PROJECT_PATH="$RUN_DIR"
export CRIPTO_WAREHOUSE_PGDATA="$WORK/pgdata"
unset CRIPTO_WAREHOUSE_URL

for dag in $DAGS; do
  step "airflow dags test cripto_platform_$dag $LOGICAL_DATE"
  log="$WORK/dags-test-$dag.log"
  if ! (cd "$RUN_DIR" && "$VENV/bin/airflow" dags test "cripto_platform_$dag" "$LOGICAL_DATE") >"$log" 2>&1; then
    tail -60 "$log"; echo "FAILED: airflow dags test cripto_platform_$dag"; exit 1
  fi
  grep -E "Marking run|state=|DagRun Finished|Task instance in .* state|ERROR" "$log" | tail -15 || true
  if grep -q -E "DagRun Finished: .*state=failed|Marking run .* failed" "$log"; then
    tail -60 "$log"; echo "FAILED: cripto_platform_$dag ran but its run failed"; exit 1
  fi
done

step "done"
echo "PASS: DAGs generated, DagBag without import errors, dags test: $DAGS ($SECONDS s)"
