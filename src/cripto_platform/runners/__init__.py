"""Runners beyond one process: ``DaskRunner`` runs a pipeline's nodes on a Dask cluster."""

from cripto_platform.runners.dask_runner import DaskRunner, DaskRunnerError, start_local_cluster

__all__ = ["DaskRunner", "DaskRunnerError", "start_local_cluster"]
