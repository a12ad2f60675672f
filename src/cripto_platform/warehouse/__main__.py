"""``python -m cripto_platform.warehouse url`` prints a URL psql accepts (starting the embedded server)."""

from __future__ import annotations

import argparse
import sys

from cripto_platform.warehouse.connection import (
    WarehouseUnavailableError,
    check_connection,
    embedded_pgdata,
    resolve_url,
    stop_embedded_server,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cripto_platform.warehouse")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("url", help="print the warehouse URL (psql \"$(... url)\")")
    commands.add_parser("stop", help="stop the embedded server")
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop_embedded_server()
        print(f"stopped the embedded warehouse in {embedded_pgdata()}")
        return 0
    try:
        url = resolve_url()
        check_connection(url)
    except WarehouseUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
