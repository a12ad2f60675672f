"""The Kedro project behind the service: one ``KedroSession`` per load or run, as ``kedro run`` makes them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import AbstractRunner
from kedro.utils import find_kedro_project


def locate_project(start: Path | str | None = None) -> Path:
    """The Kedro project at or above ``start`` (default: the working directory)."""
    start = Path(start or Path.cwd()).resolve()
    found = find_kedro_project(start)
    if found is None:
        raise FileNotFoundError(f"no Kedro project (a pyproject.toml with [tool.kedro]) at or above '{start}'")
    return Path(found)


class KedroProject:
    """Bootstraps the project once; every load or run gets a fresh session (fresh catalog, latest versions)."""

    def __init__(self, project_path: Path | str | None = None, env: str | None = None) -> None:
        self.path = locate_project(project_path)
        self.env = env
        bootstrap_project(self.path)

    @contextmanager
    def context(self) -> Iterator[KedroContext]:
        """A context of a new session, for reading the catalog, parameters and credentials."""
        with KedroSession.create(project_path=self.path, env=self.env, save_on_close=False) as session:
            yield session.load_context()

    def run(self, pipeline: str, runner: AbstractRunner | None = None) -> str:
        """``kedro run --pipeline <pipeline>``; returns the run's save version (its session id)."""
        with KedroSession.create(project_path=self.path, env=self.env) as session:
            session.run(pipeline_names=[pipeline], runner=runner)
            return session.store["session_id"]


def read_config(context: KedroContext, key: str) -> dict[str, Any]:
    """``parameters`` or ``credentials`` as configured (raw, unvalidated); empty when there are none."""
    try:
        return dict(context.config_loader[key] or {})
    except MissingConfigException:
        return {}
