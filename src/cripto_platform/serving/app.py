"""The recommendation HTTP service (FastAPI): ``POST /recommend_companies``, ``POST /create_index``, ``GET /health``.

``python -m cripto_platform.serve`` runs it on uvicorn. Errors answer ``{"detail": "<what and what to do>"}``:
401/403 for a missing/wrong bearer token, 404 for an unknown client, 409 while an index build runs,
422 for a bad body, 503 when there is no index yet or the warehouse cannot answer.
"""

from __future__ import annotations

import asyncio
import hmac
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from kedro.runner import AbstractRunner
from pydantic import BaseModel, ConfigDict, Field

from cripto_platform.serving.project import KedroProject
from cripto_platform.serving.service import (
    BUILD_COMMAND,
    IndexBuildError,
    NoIndexError,
    RecommendationService,
    ServiceConfigError,
    UnknownClientError,
    WarehouseReadError,
)


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=256, description="external_client_id in payments_l0")
    n: int = Field(default=10, ge=1, le=100, description="how many companies to recommend")


class Recommendation(BaseModel):
    company_code: str
    name: str | None
    category: str | None
    score: float = Field(description="sum over paid companies of payments x cosine similarity; 0 for popular")
    source: str = Field(description="'similar' (from the client's history) or 'popular' (fallback)")


class RecommendResponse(BaseModel):
    client_id: str
    index_version: str
    recommendations: list[Recommendation]


class CreateIndexResponse(BaseModel):
    index_version: str
    previous_version: str | None
    status: str = "ok"


class HealthResponse(BaseModel):
    status: str = Field(description="'ok' when an index is served, 'no_index' before the first one")
    index_version: str | None
    building: bool


_bearer = HTTPBearer(auto_error=False, description="CRIPTO_API_TOKEN (credentials recommendation_api.token)")


def _require_token(request: Request, supplied: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """With a token configured, the request must carry it as ``Authorization: Bearer <token>``."""
    expected = request.app.state.service.token
    if expected is None:
        return
    if supplied is None:
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(supplied.credentials.encode(), expected.encode()):
        raise HTTPException(403, "invalid bearer token")


def create_app(project_path: Path | str | None = None, env: str | None = None, *, token: str | None = None,
               runner: AbstractRunner | None = None) -> FastAPI:
    """The service for the Kedro project at ``project_path`` (default: the one at or above the working
    directory) in environment ``env``. Reads the token and the warehouse credentials and loads the latest
    ``company_index`` now. ``token`` overrides the configured one; ``runner`` runs ``/create_index``'s
    pipeline (default: Kedro's ``SequentialRunner``)."""
    service = RecommendationService(KedroProject(project_path, env), token=token, runner=runner)
    service.start()

    app = FastAPI(title="cripto_platform recommendations",
                  description="Companies a client does not pay yet, from the company index (Annoy) "
                              "and the client's payments in the warehouse.")
    app.state.service = service

    for error_type, status in ((NoIndexError, 503), (WarehouseReadError, 503), (UnknownClientError, 404),
                               (IndexBuildError, 500), (ServiceConfigError, 500)):
        app.add_exception_handler(error_type, _handler(status))

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        loaded = service.current
        return HealthResponse(status="ok" if loaded else "no_index", index_version=loaded and loaded.version,
                              building=service.building)

    protected = APIRouter(dependencies=[Depends(_require_token)])

    @protected.post("/recommend_companies", response_model=RecommendResponse,
                    responses={404: {"description": "unknown client"}, 503: {"description": "no index yet"}})
    async def recommend_companies(body: RecommendRequest) -> dict:
        # With an index loaded a request is one indexed warehouse query (~0.1 ms on the local warehouse)
        # and ~0.1 ms of scoring: run inline on the event loop, which measured 1.7x the throughput of
        # FastAPI's thread pool hop at 32 concurrent clients (benchmarks/README.md). The queries carry a
        # statement_timeout (service.STATEMENT_TIMEOUT_MS), so a stalled warehouse cannot hold the loop
        # for long. Without an index (loading it may take seconds) the thread pool is used.
        if service.current is None:
            return await run_in_threadpool(service.recommend, body.client_id, body.n)
        return service.recommend(body.client_id, body.n)

    @protected.post("/create_index", response_model=CreateIndexResponse,
                    responses={409: {"description": "a build is already running"}})
    async def create_index() -> CreateIndexResponse:
        if not service.build_lock.acquire(blocking=False):
            raise HTTPException(409, f"an index build (`{BUILD_COMMAND}`) is already running; "
                                     "retry when GET /health shows building: false")
        # build_index releases the lock in its worker thread when the run ends; shield keeps a
        # disconnected client from cancelling the wait (and freeing the lock) while the run goes on.
        future = asyncio.get_running_loop().run_in_executor(None, service.build_index)
        version, previous = await asyncio.shield(future)
        return CreateIndexResponse(index_version=version, previous_version=previous)

    app.include_router(protected)
    return app


def _handler(status: int):
    async def handle(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": str(error)})

    return handle
