"""The pipeline's shape and parameters: one namespaced, independent branch per candidate; typed blocks."""

from __future__ import annotations

import pytest
from kedro.pipeline import Pipeline
from pydantic import ValidationError

from cripto_platform.pipelines.profiling.params import BLOCKS, TablesParams
from cripto_platform.pipelines.profiling.pipeline import create_pipeline
from cripto_platform.pipelines.profiling.tables import CANDIDATES
from tests.pipelines.profiling.conftest import shipped_params


def test_shipped_parameters_validate():
    params = shipped_params()
    for block, model in BLOCKS.items():
        model(**params[block])
    assert set(params["tables"]["include"]) == {table.name for table in CANDIDATES}


def test_unknown_table_is_refused():
    with pytest.raises(ValidationError, match="unknown table"):
        TablesParams(include=["nope"], quality_rules=True)


def test_one_independent_namespaced_branch_per_table():
    pipeline = create_pipeline()
    for table in CANDIDATES:
        branch = pipeline.only_nodes_with_namespaces([f"profiling_{table.name}"])
        assert len(branch.nodes) == 3
        assert f"{table.name}_profile_json" in branch.all_outputs()
        assert table.source in branch.inputs()
        others = {f"{other.name}_profile_json" for other in CANDIDATES} - {f"{table.name}_profile_json"}
        assert not others & branch.inputs()  # branches never wait for each other


def test_warehouse_profiles_follow_their_writers_in_default():
    from cripto_platform.pipelines.clustering.pipeline import create_pipeline as clustering
    from cripto_platform.pipelines.payments.pipeline import create_pipeline as payments

    from tests.conftest import without_check

    default = Pipeline([without_check(payments()), without_check(clustering()), without_check(create_pipeline())])

    def writers_before(node_name: str) -> set[str]:
        return {output for node in default.to_nodes(node_name).nodes for output in node.outputs}

    assert "payments_l0@scd2" in writers_before("profiling_payments_l0.profile_table")
    assert "companies_l0" in writers_before("profiling_companies_l0.profile_table")
    assert "reservations@sample" in writers_before("profiling_reservations.profile_table")
    assert "reservation_clusters@table" in writers_before("profiling_reservation_clusters.profile_table")


def test_lake_profiles_read_the_record_of_every_lake_table_ingestion_writes():
    """ingestion_lake_tables is saved from every lake table, read back (lazily) inside ingestion after its write (so
    the tables are not loose in kedro-viz's overview), lists the lake candidates in the catalog, and every lake branch
    reads its table from it: one dataset between the pipelines instead of a scan each."""
    import yaml

    from cripto_platform.pipelines.ingestion.pipeline import create_pipeline as ingestion
    from tests.conftest import PROJECT_ROOT

    lake = {table.name for table in CANDIDATES if table.kind == "lake"}
    (record,) = ingestion().only_nodes("record_lake_tables").nodes
    assert record.outputs == ["ingestion_lake_tables"]
    assert set(record.inputs) == lake | {"ingestion_version"}
    assert lake <= ingestion().all_outputs()
    assert not ingestion().outputs() & lake  # each table is read back (lazily) by the record
    catalog = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_profiling.yml").read_text())
    assert set(catalog["ingestion_lake_tables"]["tables"]) == lake
    profiling = create_pipeline()
    (opener,) = profiling.only_nodes("open_lake_tables").nodes
    assert opener.inputs == ["ingestion_lake_tables"]
    assert set(opener.outputs) == {table.source for table in CANDIDATES if table.kind == "lake"}
    assert "ingestion_lake_tables" in profiling.inputs()
    assert not lake & profiling.inputs()


def test_the_record_scans_each_lake_table_where_its_writer_writes_it():
    """The record's path/table per lake table come from the table's own catalog entry (resolved config), in the
    base and the cloud environment, so moving a table in catalog_ingestion.yml moves its profile too."""
    from kedro.config import OmegaConfigLoader

    from tests.conftest import PROJECT_ROOT

    for env in ("local", "cloud"):
        catalog = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env)["catalog"]
        tables = catalog["ingestion_lake_tables"]["tables"]
        assert tables, env
        for name, spec in tables.items():
            assert spec == {"path": catalog[name]["path"], "table": catalog[name]["table"]}, (env, name)
            assert catalog[name].get("lazy") is True, (env, name)  # read back by the record and the check
