"""``gridmarket seed``: the demo scenario, put into a running suite.

Creates what the demo lacks and nothing else, so running it again changes
nothing: the simulation cell registered at the market, one coal plant, 10
consumer clusters, 25 prosumers, and three accounts (``manager`` of the plant;
``alice`` and ``bob`` with a house each). It acts as the issuer's ``admin``
client (client credentials): the secret is ``GRIDMARKET_ADMIN_CLIENT_SECRET``,
or, in development, the one derived from ``AUTH_SECRET_KEY``. The accounts'
passwords are derived from that secret too, and printed for the accounts it
creates. ``gridmarket up`` seeds the suite it starts the same way.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.security import ADMIN_SCOPE, derive_client_secret
from services.common.settings import DEFAULT_SECRET
from services.serve import DEFAULT_PORTS

ADMIN_CLIENT_ID = "admin"
ADMIN_SECRET_ENV = "GRIDMARKET_ADMIN_CLIENT_SECRET"
"""The ``admin`` client's secret, as registered in the issuer's ``AUTH_SERVICE_CLIENTS``."""
SEEDED_SERVICES = ("auth", "manager", "prosumer", "market", "simulation")
"""The services the seeding writes to (the weather service holds no members)."""


@dataclass(frozen=True)
class SeedTargets:
    """Where the seeding reaches each service, and where the market reaches the cell."""

    auth: str
    manager: str
    prosumer: str
    market: str
    simulation: str
    cell: str = ""
    """The simulation cell as the market polls it; the ``simulation`` URL when empty."""

    @property
    def cell_url(self) -> str:
        return self.cell or self.simulation

    def urls(self) -> dict[str, str]:
        return {service: getattr(self, service) for service in SEEDED_SERVICES}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    managers: tuple[str, ...] = ()
    prosumers: tuple[str, ...] = ()


@dataclass
class Seeded:
    """What one seeding created; false when the suite had everything already."""

    members: list[str] = field(default_factory=list)
    """Kinds of members created: plants, consumers, prosumers."""
    accounts: list[DemoAccount] = field(default_factory=list)
    cell_registered: bool = False

    def __bool__(self) -> bool:
        return bool(self.members or self.accounts)


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


def demo_accounts(password_key: str) -> list[DemoAccount]:
    """One manager and two prosumers with their own houses; passwords derived from the key."""

    def password(username: str) -> str:
        return derive_client_secret(password_key, f"demo account {username}")[:20]

    return [
        DemoAccount("manager", password("manager"), managers=("coal-1",)),
        DemoAccount("alice", password("alice"), prosumers=("house-01",)),
        DemoAccount("bob", password("bob"), prosumers=("house-02",)),
    ]


def fetch_admin_token(client: httpx.Client, auth_url: str, client_secret: str) -> str:
    """A client-credentials token of the ``admin`` client (a manager of everything)."""
    response = client.post(
        f"{auth_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ADMIN_CLIENT_ID,
            "client_secret": client_secret,
            "scope": ADMIN_SCOPE,
        },
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def seed_demo(targets: SeedTargets, admin_secret: str, password_key: str) -> Seeded:
    """Create what the demo lacks (cell, plant, clusters, prosumers, accounts)."""
    seeded = Seeded()
    with httpx.Client(timeout=10.0) as client:
        token = fetch_admin_token(client, targets.auth, admin_secret)
        client.headers["Authorization"] = f"Bearer {token}"
        market_cells = client.get(f"{targets.market}/api/members").json()
        if not any(cell.get("destination") == targets.cell_url for cell in market_cells):
            client.post(
                f"{targets.market}/api/members",
                json={"body": [{"destination": targets.cell_url}]},
            ).raise_for_status()
            seeded.cell_registered = True
        scenario = demo_scenario(random.Random(7))
        for kind, base, path in (
            ("plants", targets.manager, "/api/members"),
            ("consumers", targets.simulation, "/api/members/consumers"),
            ("prosumers", targets.prosumer, "/api/members"),
        ):
            existing = client.get(f"{base}{path}").json()
            if isinstance(existing, dict):  # the manager wraps its list as {"body": [...]}
                existing = existing.get("body", [])
            if not existing:
                client.post(f"{base}{path}", json={"body": scenario[kind]}).raise_for_status()
                seeded.members.append(kind)
        for account in demo_accounts(password_key):
            if _seed_account(client, targets.auth, account):
                seeded.accounts.append(account)
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


def wait_answering(
    urls: dict[str, str],
    timeout_s: float,
    *,
    check: Callable[[], None] | None = None,
    every_s: float = 0.5,
) -> None:
    """Return once every URL answers ``/healthz``; RuntimeError when time runs out.

    ``check`` runs before each round and may raise to give up early (a process exited).
    """
    deadline = time.monotonic() + timeout_s
    waiting = dict(urls)
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            if check is not None:
                check()
            for service, url in list(waiting.items()):
                try:
                    if client.get(f"{url}/healthz").status_code == 200:
                        del waiting[service]
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"not answering after {timeout_s:.0f} s: {', '.join(waiting)}")
            if waiting:
                time.sleep(every_s)


def admin_secret_from(environ: Mapping[str, str]) -> str:
    """The ``admin`` client's secret: set, or derived from the secret key (development)."""
    secret = environ.get(ADMIN_SECRET_ENV, "")
    if secret:
        return secret
    return derive_client_secret(environ.get("AUTH_SECRET_KEY") or DEFAULT_SECRET, ADMIN_CLIENT_ID)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "seed",
        help="put the demo scenario into a running suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for service in SEEDED_SERVICES:
        default = f"http://127.0.0.1:{DEFAULT_PORTS[service]}"
        parser.add_argument(
            f"--{service}", default=default, metavar="URL", help=f"default {default}"
        )
    parser.add_argument(
        "--cell",
        default="",
        metavar="URL",
        help="the simulation cell as the market reaches it (default: the --simulation URL)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the services to answer (default 60)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    targets = SeedTargets(
        **{service: getattr(args, service).rstrip("/") for service in SEEDED_SERVICES},
        cell=args.cell.rstrip("/"),
    )
    admin_secret = admin_secret_from(os.environ)
    try:
        wait_answering(targets.urls(), args.wait)
        seeded = seed_demo(targets, admin_secret, password_key=admin_secret)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"gridmarket seed: {exc}", file=sys.stderr)
        return 1
    print_seeded(seeded, targets)
    return 0


def print_seeded(seeded: Seeded, targets: SeedTargets) -> None:
    if seeded.cell_registered:
        print(f"registered the cell {targets.cell_url} at the market")
    if seeded.members:
        print(f"created {', '.join(seeded.members)}")
    if not seeded and not seeded.cell_registered:
        print("the demo scenario is there already: nothing created")
    if seeded.accounts:
        print("\nDemo accounts created:")
        for account in seeded.accounts:
            role = "manager of" if account.managers else "prosumer of"
            owns = ", ".join(account.managers or account.prosumers)
            print(f"  {account.username:<8} password {account.password}   {role} {owns}")
    sys.stdout.flush()
