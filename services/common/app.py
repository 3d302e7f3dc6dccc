"""The one way a service's FastAPI app is put together.

Errors, ``/healthz`` and ``/readyz``, and web hardening: CORS for the dashboard's
origins only, and security headers on every response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import install_error_handlers
from services.common.runtime import RuntimeDep
from services.common.settings import DASHBOARD_ORIGINS, ServiceSettings

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""A JSON API loads nothing and is framed by no one."""
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
"""What FastAPI's Swagger UI and ReDoc pages load: their bundles from a CDN and inline set-up."""
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"
CORS_METHODS = ["GET", "POST", "PUT", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Last-Event-ID"]
"""Last-Event-ID: a stream read with fetch sends it when it reconnects, as EventSource does."""

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


def security_headers(
    settings: ServiceSettings | None, content_security_policy: str = API_CONTENT_SECURITY_POLICY
) -> dict[str, str]:
    """The headers every response of a service carries; HSTS only in production (behind TLS)."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": content_security_policy,
        "Cross-Origin-Resource-Policy": "same-site",
    }
    if settings is not None and settings.environment == "production":
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return headers


class SecurityHeadersMiddleware:
    """Adds headers to every HTTP response a route has not set itself.

    Pure ASGI, so streamed responses (server-sent events) pass through untouched.
    ``by_path`` replaces some of the headers on given paths (the docs pages).
    """

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str],
        by_path: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.headers = dict(headers)
        self.by_path = {path: {**self.headers, **extra} for path, extra in (by_path or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.by_path.get(scope["path"], self.headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _ServiceApp(FastAPI):
    """FastAPI with the security headers as the outermost layer.

    ``add_middleware`` would put them inside Starlette's ServerErrorMiddleware,
    which renders the 500s: those would go out without them.
    """

    def __init__(self, *, headers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.security_headers = headers

    def build_middleware_stack(self) -> ASGIApp:
        docs_paths = (self.docs_url, self.redoc_url, self.swagger_ui_oauth2_redirect_url)
        docs = {"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}
        return SecurityHeadersMiddleware(
            super().build_middleware_stack(),
            self.security_headers,
            by_path={path: docs for path in docs_paths if path},
        )


def create_hardened_app(
    *,
    settings: ServiceSettings | None,
    content_security_policy: str,
    **fastapi_options: Any,
) -> FastAPI:
    """A bare FastAPI app with the suite's error shape and security headers on every response.

    ``create_service_app`` builds on it; an app without storage or a tick loop
    (the dashboard's file server) uses it directly and adds its own health routes.
    """
    app = _ServiceApp(
        version="0.1.0",
        headers=security_headers(settings, content_security_policy),
        **fastapi_options,
    )
    install_error_handlers(app)
    return app


def create_service_app(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
    settings: ServiceSettings | None = None,
    content_security_policy: str = API_CONTENT_SECURITY_POLICY,
) -> FastAPI:
    """A FastAPI app with the suite's error shape, ``/healthz``, ``/readyz`` and hardening.

    ``settings`` give the CORS origins and the environment (HSTS in production);
    without them the development defaults apply. A service that renders HTML
    passes the ``content_security_policy`` its pages need.
    """
    app = create_hardened_app(
        title=title,
        description=description,
        lifespan=lifespan,
        settings=settings,
        content_security_policy=content_security_policy,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins if settings is not None else DASHBOARD_ORIGINS,
        allow_credentials=True,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_HEADERS,
    )
    app.include_router(health)
    for router in routers:
        app.include_router(router)
    return app
