"""Who may call which route of the simulation cell; a refused request changes nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.common.security import POLL_SCOPE, PUSH_SCOPE
from tests.simulation.conftest import (
    Cell,
    first_event,
    make_consumer,
    make_legacy_manager,
    make_legacy_prosumer,
    make_plant_state,
    make_prosumer_state,
    make_push,
)

CALLERS = ("manager", "pusher", "poller", "prosumer")
"""A grid manager; services granted grid.push and grid.poll; a household's owner."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    allowed: frozenset[str]
    body: Any = None
    status: int = 200

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


MANAGERS = frozenset({"manager"})
PUSHERS = frozenset({"pusher"})
MANAGERS_OR_PUSHERS = frozenset({"manager", "pusher"})
MANAGERS_OR_POLLERS = frozenset({"manager", "poller"})

# Every route, with a request that succeeds on the seeded cell when the caller may make it.
ROUTES = [
    Route("GET", "/api/members", MANAGERS_OR_POLLERS),
    Route("GET", "/api/members/consumers", MANAGERS_OR_POLLERS),
    Route("POST", "/api/members/consumers", MANAGERS, make_consumer(id="c2"), 201),
    Route("GET", "/api/members/consumers/c1", MANAGERS_OR_POLLERS),
    Route("PUT", "/api/members/consumers/c1", MANAGERS, {"households": 20}),
    Route("DELETE", "/api/members/consumers/c1", MANAGERS),
    Route("GET", "/api/members/prosumers", MANAGERS_OR_POLLERS),
    Route(
        "POST",
        "/api/members/prosumers/bulk",
        PUSHERS,
        make_push(make_prosumer_state(id="p2")),
    ),
    Route(
        "POST", "/api/members/prosumers", MANAGERS_OR_PUSHERS, make_legacy_prosumer(id="p2"), 201
    ),
    Route("GET", "/api/members/prosumers/p1", MANAGERS_OR_POLLERS),
    Route("PUT", "/api/members/prosumers/p1", MANAGERS_OR_PUSHERS, make_legacy_prosumer()),
    Route("DELETE", "/api/members/prosumers/p1", MANAGERS_OR_PUSHERS),
    Route("GET", "/api/members/managers", MANAGERS_OR_POLLERS),
    Route(
        "POST",
        "/api/members/managers/bulk",
        PUSHERS,
        make_push(make_plant_state(id="coal-2"), source="managers-a"),
    ),
    Route("POST", "/api/members/managers", MANAGERS_OR_PUSHERS, make_legacy_manager(), 201),
    Route("GET", "/api/members/managers/coal-1", MANAGERS_OR_POLLERS),
    Route(
        "PUT",
        "/api/members/managers/coal-1",
        MANAGERS_OR_PUSHERS,
        make_legacy_manager(id="coal-1"),
    ),
    Route("DELETE", "/api/members/managers/coal-1", MANAGERS_OR_PUSHERS),
    Route("GET", "/api/data", MANAGERS_OR_POLLERS),
    Route("GET", "/api/history", MANAGERS_OR_POLLERS),
    Route("GET", "/api/stream", MANAGERS_OR_POLLERS),
]
GRANTS = [
    pytest.param(route, caller, id=f"{route}-{caller}")
    for route in ROUTES
    for caller in sorted(route.allowed)
    if route.path != "/api/stream"
]


def token_of(cell: Cell, caller: str) -> str:
    issuer = cell.issuer
    return {
        "manager": cell.manager_token,
        "pusher": cell.push_token,
        "poller": issuer.service_token("market", scopes=[POLL_SCOPE]),
        "prosumer": issuer.user_token("ada", prosumers=["p1"]),
    }[caller]


async def seeded(cell: Cell) -> Cell:
    """A cell with consumer c1, prosumer p1 and plant coal-1, after one tick."""
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state())
    await cell.push_plants(make_plant_state())
    await cell.tick()
    return cell


async def snapshot(cell: Cell) -> tuple[Any, ...]:
    """Everything the cell stores and serves about its members."""
    storage = cell.app.state.runtime.storage
    await cell.service.checkpoint()  # pushed state is stored now and then, not per push
    stored = [await storage.list(kind) for kind in ("consumers", "prosumers", "managers")]
    return (*stored, await cell.ok("GET", "/api/members"))


async def send(cell: Cell, route: Route, token: str | None) -> httpx.Response:
    # A stream that was wrongly let through would never end: fail instead of hanging.
    async with asyncio.timeout(5.0):
        return await cell.request_as(token, route.method, route.path, route.body)


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_every_route_without_a_token_is_401_and_changes_nothing(cell: Cell, route: Route):
    before = await snapshot(await seeded(cell))

    response = await send(cell, route, token=None)

    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert await snapshot(cell) == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_callers_without_the_privilege_are_403_and_change_nothing(cell: Cell, route: Route):
    before = await snapshot(await seeded(cell))

    for caller in sorted(set(CALLERS) - route.allowed):
        response = await send(cell, route, token_of(cell, caller))

        assert response.status_code == 403, f"{caller}: {response.text}"
        assert response.json()["error"] == "forbidden"
        assert await snapshot(cell) == before, caller


@pytest.mark.parametrize(("route", "caller"), GRANTS)
async def test_a_caller_with_the_privilege_is_served(cell: Cell, route: Route, caller: str):
    await seeded(cell)

    response = await send(cell, route, token_of(cell, caller))

    assert response.status_code == route.status, response.text


@pytest.mark.parametrize("caller", sorted(MANAGERS_OR_POLLERS))
async def test_the_stream_is_served_to_managers_and_pollers(cell: Cell, caller: str):
    await seeded(cell)

    event = await first_event(cell.app, token_of(cell, caller))

    assert event["event"] == "totals"


def invalid_token(cell: Cell, kind: str) -> str:
    """A grid.push token that must not be accepted: expired, for another audience, or forged."""
    issuer = cell.issuer
    claims = issuer.service_claims(scopes=[PUSH_SCOPE])
    if kind == "expired":
        return issuer.sign({**claims, "iat": 1, "exp": 2})
    if kind == "audience":
        return issuer.sign({**claims, "aud": "someone-else"})
    return issuer.sign(claims, key=issuer.stranger_key())


@pytest.mark.parametrize("kind", ["expired", "audience", "forged"])
async def test_a_push_with_an_invalid_token_is_401_and_changes_nothing(cell: Cell, kind: str):
    before = await snapshot(await seeded(cell))
    push = make_push(make_prosumer_state(id="p2"))
    token = invalid_token(cell, kind)

    response = await cell.request_as(token, "POST", "/api/members/prosumers/bulk", push)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert await snapshot(cell) == before


async def test_access_is_checked_before_the_body(cell: Cell):
    response = await cell.request_as(
        cell.manager_token, "POST", "/api/members/prosumers/bulk", {"members": "not a push"}
    )

    assert response.status_code == 403


async def test_an_administrator_client_is_a_manager(cell: Cell):
    admin = cell.issuer.service_token("admin", scopes=["admin"])

    response = await cell.request_as(admin, "POST", "/api/members/consumers", make_consumer())

    assert response.status_code == 201


async def test_every_route_declares_who_may_call_it(cell: Cell):
    schema = (await cell.client.get("/openapi.json")).json()
    operations = [
        operation
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for operation in item.values()
    ]

    assert len(operations) == len(ROUTES)
    for operation in operations:
        description = operation["description"]
        assert "Managers" in description or "grid.push" in description, operation["summary"]
        assert {"401", "403"} <= set(operation["responses"]), operation["summary"]
