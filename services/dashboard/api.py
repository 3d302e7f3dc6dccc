"""Routes of the dashboard's server: hand off to ``DashboardService``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.staticfiles import NotModifiedResponse

from services.common.app import Health, Readiness
from services.common.errors import NotFoundError, error_responses
from services.dashboard.schemas import RuntimeConfig
from services.dashboard.service import REVALIDATE_CACHE_CONTROL, DashboardService


def get_service(request: Request) -> DashboardService:
    service: DashboardService = request.app.state.service
    return service


ServiceDep = Annotated[DashboardService, Depends(get_service)]

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz(service: ServiceDep) -> Health:
    """Alive: the process answers (whether or not the app is built)."""
    return Health(status="ok", service="dashboard", name=service.settings.name)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the app is not built"}},
    tags=["health"],
)
async def readyz(service: ServiceDep) -> JSONResponse:
    """Ready: the built app is there to serve."""
    built = await service.is_built()
    body = Readiness(
        status="ready" if built else "not ready",
        checks={"build": "ok" if built else "failed: no index.html in the build directory"},
    )
    return JSONResponse(body.model_dump(), status_code=200 if built else 503)


@router.get("/config.json", response_model=RuntimeConfig)
async def runtime_config(service: ServiceDep, response: Response) -> RuntimeConfig:
    """Where the app finds the issuer and every service; read once at start."""
    response.headers["Cache-Control"] = REVALIDATE_CACHE_CONTROL
    return service.runtime_config()


@router.api_route(
    "/{path:path}",
    methods=["GET", "HEAD"],
    response_class=FileResponse,
    responses={
        **error_responses(NotFoundError),
        503: {"content": {"text/html": {}}, "description": "the app is not built"},
    },
)
async def app_file(path: str, request: Request, service: ServiceDep) -> Response:
    """A file of the built app; index.html for the app's own routes."""
    found = await service.locate(path)
    if found is None:
        return HTMLResponse(
            service.not_built_page(), status_code=503, headers={"Cache-Control": "no-store"}
        )
    response = FileResponse(
        found.path, stat_result=found.stat, headers={"Cache-Control": found.cache_control}
    )
    if _matches(request.headers.get("if-none-match"), response.headers["etag"]):
        return NotModifiedResponse(response.headers)
    return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return if_none_match.strip() == "*" or etag in (
        tag.strip().removeprefix("W/") for tag in if_none_match.split(",")
    )
