"""The suite as docker-compose.yml configures it, run on loopback without Docker.

Each service gets the environment the compose file gives its container
(production mode, secrets from ``scripts/compose_env.py``), with the service
names and ports moved onto free loopback ports and MongoDB replaced by
nx-27017. Browsers' host is ``public.invalid``, a name that never resolves:
tokens name the issuer there, so every service must read the issuer's keys and
get its own tokens at ``GRIDMARKET_ISSUER_INTERNAL_URL``. The compose file's
``seed`` command then seeds the demo, as ``docker compose --profile demo up``
would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.seed import ADMIN_SECRET_ENV, fetch_admin_token
from services.serve import APPS, DEFAULT_PORTS
from services.up import START_WAVES, spawn, stop, wait_healthy
from tests.e2e.harness import eventually, free_port
from tests.test_compose import compose, environment, generated_env

pytestmark = pytest.mark.slow

PUBLIC_HOST = "public.invalid"
"""RFC 6761: never resolves, so nothing can reach the suite through it but a browser's URL bar."""


@dataclass
class ComposedSuite:
    ports: dict[str, int]
    variables: dict[str, str]
    services: dict[str, dict[str, Any]]
    """The compose file's services, their URLs moved onto loopback."""
    data_dir: Path

    def url(self, app: str) -> str:
        """Where the containers (and this test) reach ``app``."""
        return f"http://127.0.0.1:{self.ports[app]}"

    def public_url(self, app: str) -> str:
        return f"http://{PUBLIC_HOST}:{self.ports[app]}"

    def seed(self) -> subprocess.CompletedProcess[str]:
        """The compose file's one-shot ``seed`` service, as a process."""
        seed = self.services["seed"]
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *seed["command"], "--wait", "30"],
            env={**base_environment(self.data_dir), **environment(seed)},
            capture_output=True,
            text=True,
            timeout=120,
        )


def base_environment(data_dir: Path) -> dict[str, str]:
    """What a container has besides its compose environment (and nothing from this shell)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        "GRIDMARKET_DATA_DIR": str(data_dir),
    }


def on_loopback(value: Any, ports: dict[str, int], mongodb_uri: str) -> Any:
    """``value`` with service names, published ports and MongoDB moved to this machine."""
    if isinstance(value, dict):
        return {key: on_loopback(item, ports, mongodb_uri) for key, item in value.items()}
    if isinstance(value, list):
        return [on_loopback(item, ports, mongodb_uri) for item in value]
    if not isinstance(value, str):
        return value
    if value.startswith("mongodb://"):
        return mongodb_uri
    if value == "0.0.0.0":
        return "127.0.0.1"

    def move(match: re.Match[str]) -> str:
        host, port = match["host"], int(match["port"])
        app = next((app for app, default in DEFAULT_PORTS.items() if default == port), None)
        if app is None or host not in (app, PUBLIC_HOST):
            return match[0]
        return f"http://{'127.0.0.1' if host == app else PUBLIC_HOST}:{ports[app]}"

    return re.sub(r"http://(?P<host>[a-z.]+):(?P<port>\d+)", move, value)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, nx_mongodb_uri: str) -> Iterator[ComposedSuite]:
    data_dir = tmp_path_factory.mktemp("compose")
    variables = {**generated_env(), "GRIDMARKET_PUBLIC_HOST": PUBLIC_HOST}
    ports = {app: free_port() for app in APPS}
    services = on_loopback(compose(variables)["services"], ports, nx_mongodb_uri)
    running = ComposedSuite(ports, variables, services, data_dir)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for wave in START_WAVES:
            for app in wave:
                env = {
                    **base_environment(data_dir),
                    **environment(services[app]),
                    f"{app.upper()}_PORT": str(ports[app]),
                }
                log = open(data_dir / f"{app}.log", "ab")  # noqa: SIM115
                processes[app] = spawn(app, env, log)
            wait_healthy({app: running.url(app) for app in wave}, processes)
        yield running
    finally:
        stop(processes)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.fixture(scope="module")
def admin(suite: ComposedSuite) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        secret = suite.variables[ADMIN_SECRET_ENV]
        token = fetch_admin_token(client, suite.url("auth"), secret)
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture(scope="module")
def seeded(suite: ComposedSuite) -> subprocess.CompletedProcess[str]:
    """The first run of the seed service."""
    return suite.seed()


def test_the_seed_service_creates_the_demo_and_then_nothing(suite, seeded):
    assert seeded.returncode == 0, seeded.stderr
    assert "created plants, consumers, prosumers" in seeded.stdout
    for username in ("manager", "alice", "bob"):
        assert re.search(rf"{username}\s+password \S{{20}}", seeded.stdout)
    again = suite.seed()
    assert again.returncode == 0, again.stderr
    assert "nothing created" in again.stdout and "password" not in again.stdout


def test_tokens_name_the_issuer_as_browsers_reach_it(suite, admin):
    token = admin.headers["Authorization"].removeprefix("Bearer ")
    assert claims(token)["iss"] == suite.public_url("auth")
    discovery = admin.get(f"{suite.url('auth')}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == suite.public_url("auth")


def test_the_services_verify_those_tokens_through_the_internal_url(suite, seeded, admin):
    members = admin.get(f"{suite.url('prosumer')}/api/members")
    assert members.status_code == 200, members.text
    assert len(members.json()) == 25


def test_the_services_get_their_own_tokens_through_the_internal_url(suite, seeded, admin):

    def pushed_and_polled() -> bool:
        # The prosumer and manager services push with grid.push tokens, the market polls
        # with a grid.poll token: each one fetched from the issuer's internal URL.
        cell = admin.get(f"{suite.url('simulation')}/api/members").json()
        price = admin.get(f"{suite.url('market')}/api/price").json()
        return (
            len(cell["prosumers"]) == 25
            and len(cell["managers"]) == 1
            and price["cells"] == 1
            and not price["stale"]
        )

    eventually(pushed_and_polled, timeout_s=30)


def test_the_dashboard_hands_the_browser_the_public_urls(suite):
    config = httpx.get(f"{suite.url('dashboard')}/config.json").json()
    assert config["environment"] == "production"
    assert config["services"] == {app: suite.public_url(app) for app in APPS if app != "dashboard"}
