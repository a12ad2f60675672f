"""Project CLI (Kedro picks up ``<package>.cli``): ``kedro run`` is Kedro's own run command, with the
warehouse's operational failures reported as one line instead of a traceback.

A lost warehouse connection mid-run (``WarehouseConnectionLost``) or an unreachable warehouse
(``WarehouseUnavailableError``) is not a bug to debug from a stack: the run fails as usual (hooks'
``on_node_error``/``on_pipeline_error`` run, the session records the exception, nothing is hidden from
the log at DEBUG level), then the CLI prints ``error: <dataset>: <what happened>`` on stderr and exits
with code 1, as ``KedroCliError`` does for Kedro's own usage errors. Every other exception is left to
Kedro as before.
"""

from __future__ import annotations

import logging
from typing import IO, Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import KedroCliError

from cripto_platform.warehouse import WarehouseConnectionLost, WarehouseUnavailableError

logger = logging.getLogger(__name__)

ONE_LINE_ERRORS = (WarehouseConnectionLost, WarehouseUnavailableError)


class OneLineCliError(KedroCliError):
    """A ``KedroCliError`` shown as its message alone, ``error: ...``, the last line of the output."""

    def show(self, file: IO | None = None) -> None:
        click.secho(f"error: {self.message}", fg="red", err=True)


def one_line_error(error: BaseException) -> str | None:
    """The message to print for ``error`` if it is, or was raised from, one of ``ONE_LINE_ERRORS``.

    Kedro's catalog re-raises a dataset's error as ``DatasetError("<dataset>: <message>")``; that
    one-line form is kept, as it names the dataset.
    """
    outer, seen = error, set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ONE_LINE_ERRORS):
            found = str(error)
            wrapped = str(outer)
            return wrapped if "\n" not in wrapped and wrapped.endswith(found) else found
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@click.group(name="cripto_platform")
def cli() -> None:
    """Commands of the cripto_platform project."""


def _run(**kwargs: Any) -> Any:
    try:
        return kedro_run.callback(**kwargs)
    except Exception as error:
        message = one_line_error(error)
        if message is None:
            raise
        logger.debug("run failed", exc_info=True)
        raise OneLineCliError(message) from None


run = click.Command(
    name=kedro_run.name,
    callback=_run,
    params=kedro_run.params,
    help=kedro_run.help,
    short_help=kedro_run.short_help,
    context_settings=kedro_run.context_settings,
)
cli.add_command(run)
