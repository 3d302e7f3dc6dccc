"""The dashboard's app: the built web app, its runtime configuration, health.

No storage, tick loop or peers: a slim app with the suite's error shape and
security headers, and a Content-Security-Policy for a single-page app that
talks to the suite's services.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_hardened_app
from services.common.settings import DashboardSettings
from services.dashboard import api
from services.dashboard.service import DashboardService, content_security_policy

DESCRIPTION = (
    "Serves the built dashboard (`DASHBOARD_DIST_DIR`, the repository's `frontend/dist` by "
    "default) and `/config.json`, where the app finds the issuer and every service."
)


def create_app(settings: DashboardSettings | None = None) -> FastAPI:
    """The dashboard app; the build directory is read on every request, so a rebuild shows."""
    settings = settings or DashboardSettings()
    app = create_hardened_app(
        title="GridMarket dashboard",
        description=DESCRIPTION,
        settings=settings,
        content_security_policy=content_security_policy(settings),
        # The app's own routes own every path: no API documentation here.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.service = DashboardService(settings)
    app.include_router(api.router)
    return app
