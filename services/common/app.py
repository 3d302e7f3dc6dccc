"""The one way a service's FastAPI app is put together: errors, health, readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common.errors import install_error_handlers
from services.common.runtime import RuntimeDep

health = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    service: str
    name: str
    tick: dict[str, Any] | None = None
    metrics: dict[str, float] = {}


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@health.get("/healthz", response_model=Health)
async def healthz(
    runtime: RuntimeDep,
    window: Annotated[int | None, Query(ge=1, le=3600, description="ticks for percentiles")] = None,
) -> Health:
    """Alive: the process answers; includes the tick loop's counters and percentiles."""
    return Health(
        status="ok",
        service=runtime.settings.service_name,
        name=runtime.settings.name,
        tick=runtime.tick_stats(window),
        metrics=runtime.metrics,
    )


@health.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is not reachable"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready: storage and every required peer answer."""
    names = list(runtime.ready_checks)
    results = await asyncio.gather(
        *(runtime.ready_checks[name]() for name in names), return_exceptions=True
    )
    checks = {
        name: "ok" if not isinstance(result, BaseException) else f"failed: {result}"[:200]
        for name, result in zip(names, results, strict=True)
    }
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def create_service_app(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
) -> FastAPI:
    """A FastAPI app with the suite's error shape, ``/healthz`` and ``/readyz``."""
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health)
    for router in routers:
        app.include_router(router)
    return app
