"""One error family for the suite and the one handler that renders it.

Every error leaves a service as ``{"error": <short kind>, "detail": <message>}``.
Domain and service code raise ``AppError`` subclasses; nothing below the routes
knows about HTTP exceptions.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The wire shape of every error response."""

    error: str
    detail: Any = None


class AppError(Exception):
    """Base of every error a service reports to its caller."""

    status_code = 400
    kind = "bad_request"
    default_headers: ClassVar[dict[str, str]] = {}
    """Response headers every error of this kind carries."""

    def __init__(
        self, message: str, *, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = {**self.default_headers, **(headers or {})}

    def body(self) -> dict[str, Any]:
        return {
            "error": self.kind,
            "detail": self.detail if self.detail is not None else self.message,
        }


class UnauthorizedError(AppError):
    """The caller is not identified (no or no valid credentials)."""

    status_code = 401
    kind = "unauthorized"
    default_headers = {"WWW-Authenticate": "Bearer"}


class ForbiddenError(AppError):
    """The caller is known, or need not be, but the action is not allowed."""

    status_code = 403
    kind = "forbidden"


class NotFoundError(AppError):
    status_code = 404
    kind = "not_found"


class ConflictError(AppError):
    status_code = 409
    kind = "conflict"


class PayloadTooLargeError(AppError):
    status_code = 413
    kind = "payload_too_large"


class InvalidInputError(AppError):
    status_code = 422
    kind = "invalid_input"


class UnavailableError(AppError):
    status_code = 503
    kind = "unavailable"


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the errors a route may raise."""
    return {
        error.status_code: {"model": ErrorBody, "description": error.kind.replace("_", " ")}
        for error in errors
    }


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors reduced to a field path and a message each."""
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            or "body",
            "message": error.get("msg", "invalid value"),
        }
        for error in exc.errors()
    ]


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        jsonable_encoder({"error": "invalid_input", "detail": _validation_detail(exc)}),
        status_code=422,
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        {"error": kind, "detail": exc.detail},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"error": "internal", "detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as ``{"error", "detail"}``."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
