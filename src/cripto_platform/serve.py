"""``python -m cripto_platform.serve``: the recommendation service on uvicorn.

    python -m cripto_platform.serve --port 8080                 # 127.0.0.1:8080, conf/base + conf/local
    python -m cripto_platform.serve --env cloud --port 8080     # the index on S3
    CRIPTO_API_TOKEN=... python -m cripto_platform.serve --host 0.0.0.0 --port 8080
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os

import uvicorn

logger = logging.getLogger("cripto_platform.serve")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cripto_platform.serve",
                                     description="Serve company recommendations over HTTP (FastAPI on uvicorn).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument("--project-path", default=None,
                        help="the Kedro project (default: the one at or above the working directory)")
    parser.add_argument("--env", default=None, help="Kedro environment, e.g. cloud (default: KEDRO_ENV or local)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)

    from cripto_platform.serving import create_app
    from cripto_platform.serving.project import locate_project

    try:
        project_path = locate_project(args.project_path)
    except FileNotFoundError as error:
        parser.error(f"{error}; pass --project-path")
    # Relative paths (the embedded warehouse's data/warehouse/pgdata) mean what they mean to `kedro run`.
    os.chdir(project_path)
    app = create_app(project_path, args.env)
    if app.state.service.token is None and not _is_loopback(args.host):
        logger.warning("serving on %s without a token: anyone who can reach it can call /create_index; "
                       "set CRIPTO_API_TOKEN (credentials recommendation_api.token)", args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
