"""cripto_platform: a Kedro data and model platform."""

__version__ = "0.1.0"


def _configure_in_spawned_worker() -> None:
    """Kedro 1.7's ParallelRunner looks the project's package name up inside each worker; a worker started by
    "spawn" (macOS's default) has none, so Kedro registers no project hooks there and the run summary would
    miss the worker's figures. A worker of a run (it inherits the summary's spool variable) configures the
    project when it imports this package to unpickle its node."""
    import multiprocessing
    import os

    if not os.environ.get("CRIPTO_RUN_SUMMARY_SPOOL") or multiprocessing.parent_process() is None:
        return
    import kedro.framework.project as project

    if project.PACKAGE_NAME is None:  # only the settings (its HOOKS): configure_project fails again in Kedro's
        project.settings.configure(f"{__name__}.settings")  # own bootstrap of the worker, were it reached


_configure_in_spawned_worker()
