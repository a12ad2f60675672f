"""Quality rules in a real ``kedro run --pipeline payments`` (KedroSession, embedded PostgreSQL).

The payments generator is wrapped in the test process (the session runs there) so the batch carries
one bad row: a negative payment_id (blocking) or an unknown status (non-blocking).
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from cripto_platform.pipelines.payments import nodes
from cripto_platform.quality import QualityRuleError
from tests.conftest import run_kedro
from tests.pipelines.payments.test_integration import SMALL, T1, clean_payments_tables  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def _plant(monkeypatch, column: str, value: str) -> None:
    """The generator's batch with ``column`` of its first valid row set to ``value`` (as the API would send it)."""
    generate = nodes.generate_payments

    def planted(*args, **kwargs) -> pd.DataFrame:
        batch = generate(*args, **kwargs).copy()
        row = batch.index[batch["payment_id"].notna()][0]
        batch[column] = batch[column].astype(object)
        batch.loc[row, column] = value
        return batch

    monkeypatch.setattr(nodes, "generate_payments", planted)


def _table_exists(engine, table: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar()


def test_a_blocking_rule_stops_the_run_before_the_merge_and_nothing_downstream_is_written(
    kedro_project, clean_payments_tables, monkeypatch
):
    engine = clean_payments_tables
    _plant(monkeypatch, "payment_id", "-5")
    with pytest.raises(QualityRuleError) as raised:
        run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("dataset 'payments_batch' broke 1 blocking quality rule(s) on save, so it was not written")
    assert "payment_id_positive on column 'payment_id' (payment_id > 0) failed for 1 of " in message
    assert "rows, e.g. -5" in message

    # The merge never ran: no SCD2 table, no payments watermark, no report, index or landing marker.
    assert not _table_exists(engine, "payments_l0")
    with engine.connect() as connection:
        watermark = connection.execute(sa.text("SELECT count(*) FROM etl_watermarks WHERE name = 'payments'")).scalar()
    assert watermark == 0
    data = kedro_project / "data"
    assert not (data / "04_feature/payments_index.parquet").exists()
    assert not (data / "08_reporting/payments_merge.csv").exists()
    assert not list((data / "01_raw/payments_landing/payments").rglob("*.merged"))


def test_a_non_blocking_rule_warns_and_the_batch_is_merged(kedro_project, clean_payments_tables, monkeypatch, caplog):
    engine = clean_payments_tables
    _plant(monkeypatch, "status", "disputed")
    with caplog.at_level(logging.WARNING, logger="cripto_platform.quality"):
        run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    warnings = [record.getMessage() for record in caplog.records if record.name.startswith("cripto_platform.quality")]
    assert len(warnings) == 1, warnings  # every other rule of payments_batch and companies_l0 passed
    assert warnings[0].startswith("dataset 'payments_batch' broke 1 non-blocking quality rule(s), written anyway: "
                                  "status_known on column 'status'")
    assert "failed for 1 of " in warnings[0] and "e.g. 'disputed'" in warnings[0]
    with engine.connect() as connection:
        statuses = pd.read_sql(sa.text("SELECT status, count(*) AS n FROM payments_l0 GROUP BY status"), connection)
    assert statuses.set_index("status")["n"].get("disputed") == 1
    assert (kedro_project / "data/04_feature/payments_index.parquet").exists()
