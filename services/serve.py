"""``gridmarket serve SERVICE``: run one service under uvicorn."""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import Any

import uvicorn
from fastapi import FastAPI

SERVICES = ("auth", "manager", "prosumer", "market", "simulation", "weather")
"""The API services: each publishes OpenAPI, guards its routes with tokens, has storage."""
DASHBOARD = "dashboard"
"""The web app's file server: served like a service, but none of the above."""
APPS = (*SERVICES, DASHBOARD)
DEFAULT_PORTS = {
    DASHBOARD: 8000,
    "auth": 8001,
    "manager": 8002,
    "prosumer": 8003,
    "market": 8004,
    "simulation": 8005,
    "weather": 8006,
}
"""Where each listens unless its ``<NAME>_PORT`` says otherwise (the settings' defaults)."""


def load_app(service: str) -> FastAPI:
    """Build ``service``'s app from its settings (environment variables)."""
    module = importlib.import_module(f"services.{service}.main")
    app: FastAPI = module.create_app()
    return app


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run one service, or the dashboard",
        description="Run one service, or the dashboard; host, port and peers come from its "
        "environment variables (e.g. PROSUMER_PORT, PROSUMER_WEATHER_URL, DASHBOARD_PORT).",
    )
    parser.add_argument("service", choices=APPS)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s {args.service} %(levelname)s %(name)s: %(message)s",
    )
    app = load_app(args.service)
    settings = app.state.settings
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.listen_port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0
