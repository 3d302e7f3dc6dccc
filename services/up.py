"""``gridmarket up``: the whole suite on this machine, one process per service.

Starts the six services on the embedded storage (SQLite files in the data
directory) and the dashboard, waits until each answers ``/healthz``, seeds a
demo scenario the first time, prints where everything is, and on Ctrl-C or
SIGTERM stops every child and leaves none behind.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.common.security import ADMIN_SCOPE, derive_client_secret
from services.common.settings import AuthSettings
from services.serve import DASHBOARD, SERVICES

DEFAULT_PORTS = {
    DASHBOARD: 8000,
    "auth": 8001,
    "manager": 8002,
    "prosumer": 8003,
    "market": 8004,
    "simulation": 8005,
    "weather": 8006,
}
START_WAVES = (
    ("weather", "auth"),
    ("simulation",),
    ("market", "manager", "prosumer", DASHBOARD),
)
"""Services that others push to start first, so the first ticks find their peers."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Suite:
    """The children of one ``gridmarket up`` and how to reach them."""

    host: str
    ports: dict[str, int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "up",
        help="run every service on this machine",
        description=__doc__,
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port-offset", type=int, default=0, help="added to every default port (8000-8006)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between ticks")
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo scenario")
    parser.set_defaults(run=run)


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when ``gridmarket up`` dies, however it dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # As uvicorn does: a port held only by closed connections in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def child_environment(suite: Suite, args: argparse.Namespace) -> dict[str, str]:
    """Environment for every child: ports, peers, data directory, clock."""
    env = dict(os.environ)
    for service, port in suite.ports.items():
        env[f"{service.upper()}_PORT"] = str(port)
        env[f"{service.upper()}_HOST"] = suite.host
    env.update(
        {
            "GRIDMARKET_DATA_DIR": str(args.data_dir.resolve()),
            "GRIDMARKET_SPEED": str(args.speed),
            "GRIDMARKET_ISSUER_URL": suite.url("auth"),
            "GRIDMARKET_TICK_SECONDS": str(args.tick),
            "PROSUMER_WEATHER_URL": suite.url("weather"),
            "SIMULATION_WEATHER_URL": suite.url("weather"),
            "PROSUMER_SIMULATION_URLS": suite.url("simulation"),
            "MANAGER_SIMULATION_URLS": suite.url("simulation"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(dashboard_environment(suite))
    return env


def dashboard_environment(suite: Suite) -> dict[str, str]:
    """Where the browser finds the dashboard and the dashboard finds every service.

    The issuer may send the browser back to the dashboard (after sign-in and
    sign-out), the APIs answer its origin, and the dashboard tells the app
    where each API is. On loopback both names of the host work in a browser.
    """
    port = suite.ports[DASHBOARD]
    hosts = [suite.host]
    if suite.host in LOOPBACK_NAMES:
        hosts += [name for name in LOOPBACK_NAMES if name != suite.host]
    origins = [f"http://{host}:{port}" for host in hosts]
    env = {
        "AUTH_REDIRECT_URIS": ",".join(f"{origin}/callback" for origin in origins),
        "AUTH_POST_LOGOUT_REDIRECT_URIS": ",".join(f"{origin}/" for origin in origins),
        "GRIDMARKET_CORS_ORIGINS": ",".join(origins),
    }
    for service in SERVICES:
        if service != "auth":  # the auth URL is the issuer's, GRIDMARKET_ISSUER_URL
            env[f"DASHBOARD_{service.upper()}_URL"] = suite.url(service)
    return env


def spawn(service: str, env: dict[str, str], log: Any = None) -> subprocess.Popen[bytes]:
    """Start ``gridmarket serve SERVICE`` as a child that dies with this process."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", service, "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        preexec_fn=_die_with_parent,
    )


def start(suite: Suite, env: dict[str, str]) -> None:
    """Start the services wave by wave, each wave once the one before is healthy."""
    for wave in START_WAVES:
        for service in wave:
            suite.processes[service] = spawn(service, env)
        wait_healthy({service: suite.url(service) for service in wave}, suite.processes)


def wait_healthy(
    urls: dict[str, str],
    processes: dict[str, subprocess.Popen[bytes]],
    timeout_s: float = HEALTH_TIMEOUT_S,
) -> None:
    """Return once every URL answers ``/healthz``; raise if a process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    waiting = set(urls)
    with httpx.Client(timeout=1.0) as client:
        while waiting:
            for label in sorted(waiting):
                code = processes[label].poll()
                if code is not None:
                    raise RuntimeError(f"{label} exited with code {code} while starting")
                try:
                    if client.get(f"{urls[label]}/healthz").status_code == 200:
                        waiting.discard(label)
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"not healthy after {timeout_s:.0f} s: {', '.join(waiting)}")
            if waiting:
                time.sleep(0.2)


def stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child, wait for them, SIGKILL any that linger."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes.values():
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def demo_scenario(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """One plant, 25 prosumers (1-3 turbines, 1-2 batteries), 10 clusters of 20-80 households."""
    prosumers = [
        {
            "id": f"house-{number:02d}",
            "turbines": [round(rng.uniform(1.0, 3.0), 1) for _ in range(rng.randint(1, 3))],
            "batteries": [
                {"capacity": 13.5, "maxOutput": 5.0, "maxCharge": 5.0, "current": 6.0}
                for _ in range(rng.randint(1, 2))
            ],
            "input_ratio": 0.5,
            "output_ratio": 0.5,
            "status": True,
        }
        for number in range(1, 26)
    ]
    consumers = [
        {"id": f"cluster-{number:02d}", "households": rng.randint(20, 80), "profile": 1.0}
        for number in range(1, 11)
    ]
    # Sized for the clusters' cold-evening peak; while it starts, its full buffer carries the load.
    plants = [
        {
            "id": "coal-1",
            "maxProduction": 1200.0,
            "ratio": 0.5,
            "status": True,
            "startup_seconds": 10,
            "ramp_per_second": 0.1,
            "buffer": {"capacity": 600.0, "maxOutput": 500.0, "maxCharge": 300.0, "current": 600.0},
        }
    ]
    return {"prosumers": prosumers, "consumers": consumers, "plants": plants}


def admin_token(client: httpx.Client, auth_url: str, secret_key: str) -> str:
    """A client-credentials token of the development ``admin`` client (a manager of everything)."""
    response = client.post(
        f"{auth_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "admin",
            "client_secret": derive_client_secret(secret_key, "admin"),
            "scope": ADMIN_SCOPE,
        },
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    managers: tuple[str, ...] = ()
    prosumers: tuple[str, ...] = ()


def demo_accounts(secret_key: str) -> list[DemoAccount]:
    """One manager and two prosumers with their own houses; passwords derived from the key."""

    def password(username: str) -> str:
        return derive_client_secret(secret_key, f"demo account {username}")[:20]

    return [
        DemoAccount("manager", password("manager"), managers=("coal-1",)),
        DemoAccount("alice", password("alice"), prosumers=("house-01",)),
        DemoAccount("bob", password("bob"), prosumers=("house-02",)),
    ]


def seed(suite: Suite, secret_key: str) -> bool:
    """Create what the demo lacks (cell, plant, clusters, prosumers, accounts); True if any."""
    with httpx.Client(timeout=10.0) as client:
        token = admin_token(client, suite.url("auth"), secret_key)
        client.headers["Authorization"] = f"Bearer {token}"
        market_cells = client.get(f"{suite.url('market')}/api/members").json()
        if not any(cell.get("destination") == suite.url("simulation") for cell in market_cells):
            client.post(
                f"{suite.url('market')}/api/members",
                json={"body": [{"destination": suite.url("simulation")}]},
            ).raise_for_status()
        scenario = demo_scenario(random.Random(7))
        seeded = False
        for service, path, listing, items in (
            ("manager", "/api/members", "/api/members", scenario["plants"]),
            (
                "simulation",
                "/api/members/consumers",
                "/api/members/consumers",
                scenario["consumers"],
            ),
            ("prosumer", "/api/members", "/api/members", scenario["prosumers"]),
        ):
            existing = client.get(f"{suite.url(service)}{listing}").json()
            if isinstance(existing, dict):  # the manager wraps its list as {"body": [...]}
                existing = existing.get("body", [])
            if not existing:
                client.post(f"{suite.url(service)}{path}", json={"body": items}).raise_for_status()
                seeded = True
        for account in demo_accounts(secret_key):
            seeded |= _seed_account(client, suite.url("auth"), account)
    return seeded


def _seed_account(client: httpx.Client, auth_url: str, account: DemoAccount) -> bool:
    registered = client.post(
        f"{auth_url}/api/register",
        json={"username": account.username, "password": account.password},
    )
    if registered.status_code == 409:
        return False
    registered.raise_for_status()
    clientid = registered.json()["clientid"]
    client.put(
        f"{auth_url}/api/profiles/{clientid}",
        json={
            "username": account.username,
            "managers": [{"level": 2, "id": plant} for plant in account.managers],
            "prosumers": [{"level": 1, "id": house} for house in account.prosumers],
        },
    ).raise_for_status()
    return True


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.speed > 0 or not args.tick > 0:
        parser.error("--speed and --tick must be positive")
    ports = {service: port + args.port_offset for service, port in DEFAULT_PORTS.items()}
    busy = [f"{s} ({p})" for s, p in ports.items() if not _port_free(args.host, p)]
    if busy:
        parser.error(f"ports in use: {', '.join(busy)}; stop what uses them or pass --port-offset")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    suite = Suite(host=args.host, ports=ports)

    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        start(suite, child_environment(suite, args))
        auth = AuthSettings()
        secret_key = auth.secret_key.get_secret_value()
        seeded = False if args.no_seed else seed(suite, secret_key)
        show_accounts = auth.environment == "development" and not args.no_seed
        accounts = demo_accounts(secret_key) if show_accounts else []
        print_summary(suite, seeded, args.data_dir, accounts)
        while not stopping:
            for service, process in suite.processes.items():
                if process.poll() is not None:
                    print(f"{service} exited with code {process.returncode}; stopping the suite")
                    return 1
            time.sleep(0.5)
        return 0
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"gridmarket up: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping every service ...", flush=True)
        stop(suite.processes)


def print_summary(suite: Suite, seeded: bool, data_dir: Path, accounts: list[DemoAccount]) -> None:
    note = "; demo scenario seeded" if seeded else ""
    print(f"\ngridmarket is up (data in {data_dir}){note}\n")
    print(f"  {DASHBOARD:<11} {suite.url(DASHBOARD):<24} <- open this")
    for service in SERVICES:
        url = suite.url(service)
        print(f"  {service:<11} {url:<24} docs: {url}/docs")
    if accounts:  # development mode only
        print("\nDemo accounts (development mode only):")
        for account in accounts:
            role = "manager of" if account.managers else "prosumer of"
            owns = ", ".join(account.managers or account.prosumers)
            print(f"  {account.username:<8} password {account.password}   {role} {owns}")
    print("\nCtrl-C stops every service.", flush=True)
