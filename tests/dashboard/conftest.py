"""Fixtures of the dashboard tests: a fake build on disk and the app serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.settings import DashboardSettings
from services.dashboard.main import create_app
from tests.conftest import serving

INDEX_HTML = (
    '<!doctype html><html><body><div id="app"></div>'
    '<script type="module" src="/assets/index-3f2a9c1d.js"></script></body></html>\n'
)
SCRIPT = "console.log('dashboard');\n"
SCRIPT_PATH = "/assets/index-3f2a9c1d.js"
STYLE_PATH = "/assets/index-9b1e77aa.css"
SECRET = "not for the browser"


def make_build(root: Path) -> Path:
    """What ``npm run build`` writes: index.html, hashed assets, a file from public/."""
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX_HTML)
    (root / SCRIPT_PATH.lstrip("/")).write_text(SCRIPT)
    (root / STYLE_PATH.lstrip("/")).write_text("body { margin: 0; }\n")
    (root / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    return root


def make_settings(dist_dir: Path, **overrides: Any) -> DashboardSettings:
    """Development settings with the default service URLs; ``overrides`` on top."""
    values: dict[str, Any] = {
        "dist_dir": dist_dir,
        "environment": "development",
        "issuer_url": "http://127.0.0.1:8001",
        "manager_url": "http://127.0.0.1:8002",
        "prosumer_url": "http://127.0.0.1:8003",
        "market_url": "http://127.0.0.1:8004",
        "simulation_url": "http://127.0.0.1:8005",
        "weather_url": "http://127.0.0.1:8006",
    }
    values.update(overrides)
    return DashboardSettings(**values)


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build in ``tmp_path/dist``, next to a file outside it that must never be served."""
    (tmp_path / "secret.txt").write_text(SECRET)
    return make_build(tmp_path / "dist")


@pytest.fixture
async def client(build: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(make_settings(build))) as client:
        yield client
