"""Cross-cutting concerns: run metadata for every run, a warehouse check before it."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from cripto_platform.run_metadata import RUN_METADATA_DATASET, new_run_metadata

logger = logging.getLogger(__name__)


class RunMetadataHooks:
    """Give every run a uuid ``run_id`` and ``started_at`` as the ``run_metadata`` dataset."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        metadata = new_run_metadata(save_version=run_params.get("run_id"))
        catalog[RUN_METADATA_DATASET] = metadata
        logger.info("run_id=%s started_at=%s", metadata["run_id"], metadata["started_at"])


class WarehouseHooks:
    """Fail fast, in one line, when the pipeline needs a warehouse that cannot be reached."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
        from cripto_platform.warehouse import WarehouseUnavailableError

        urls = set()
        for name in pipeline.datasets():
            dataset = catalog.get(name) if name in catalog else None
            if isinstance(dataset, WarehouseDatasetMixin):
                urls.add(dataset.warehouse_url_config)
        for url in urls:
            try:
                from cripto_platform.warehouse import check_connection

                check_connection(url)
            except WarehouseUnavailableError as error:
                # SystemExit with a message: one line on stderr, exit code 1, no traceback.
                raise SystemExit(f"error: {error}") from None
