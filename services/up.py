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
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.common.security import derive_client_secret
from services.common.settings import AuthSettings
from services.seed import (
    ADMIN_CLIENT_ID,
    SEEDED_SERVICES,
    DemoAccount,
    SeedTargets,
    demo_accounts,
    fetch_admin_token,
    seed_demo,
    wait_answering,
)
from services.serve import DASHBOARD, DEFAULT_PORTS, SERVICES

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


def start(suite: Suite, env: dict[str, str], log_dir: Path | None = None) -> None:
    """Start the services wave by wave, each wave once the one before is healthy.

    Children write to this process's output, or to ``{log_dir}/{service}.log``.
    """
    for wave in START_WAVES:
        for service in wave:
            suite.processes[service] = spawn(service, env, _log(log_dir, service))
        wait_healthy({service: suite.url(service) for service in wave}, suite.processes)


def _log(log_dir: Path | None, service: str) -> Any:
    return None if log_dir is None else open(log_dir / f"{service}.log", "ab")  # noqa: SIM115


def wait_healthy(
    urls: dict[str, str],
    processes: dict[str, subprocess.Popen[bytes]],
    timeout_s: float = HEALTH_TIMEOUT_S,
) -> None:
    """Return once every URL answers ``/healthz``; raise if a process exits or time runs out."""

    def none_exited() -> None:
        for label in urls:
            code = processes[label].poll()
            if code is not None:
                raise RuntimeError(f"{label} exited with code {code} while starting")

    wait_answering(urls, timeout_s, check=none_exited, every_s=0.2)


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


def admin_token(client: httpx.Client, auth_url: str, secret_key: str) -> str:
    """A token of the development ``admin`` client, whose secret derives from ``secret_key``."""
    return fetch_admin_token(client, auth_url, derive_client_secret(secret_key, ADMIN_CLIENT_ID))


def seed(suite: Suite, secret_key: str) -> bool:
    """Create what the demo lacks (cell, plant, clusters, prosumers, accounts); True if any.

    The development ``admin`` client signs in; the accounts' passwords derive
    from ``secret_key``, so ``print_summary`` can show them.
    """
    targets = SeedTargets(**{service: suite.url(service) for service in SEEDED_SERVICES})
    admin_secret = derive_client_secret(secret_key, ADMIN_CLIENT_ID)
    return bool(seed_demo(targets, admin_secret, password_key=secret_key))


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
