"""Who may call which manager route, and the token the manager pushes to the cells with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.common.security import ADMIN_SCOPE, PUSH_SCOPE
from services.manager.repository import COLLECTION
from tests.manager.conftest import Manager, make_plant, manager_token

PUBLIC_ROUTES = ["/api/members", "/api/members/p1", "/api/control/p1"]

PLANT_ROUTES = [
    ("DELETE", "/api/members/p1", None),
    ("POST", "/api/control/p1", {"status": True}),
    ("PUT", "/api/control/p1", {"ratio": 0.1}),
]
"""Routes for the managers of plant ``p1`` only."""

CREATE = ("POST", "/api/members", make_plant(id="p2"))

MUTATING_ROUTES = [CREATE, *PLANT_ROUTES]


def route_id(route: tuple[str, str, Any]) -> str:
    return f"{route[0]} {route[1]}"


async def snapshot(manager: Manager) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What is stored and what the service holds: a refused request changes neither."""
    stored = await manager.service.runtime.storage.list(COLLECTION)
    held = [plant.model_dump(mode="json") for plant in manager.service.members()]
    return stored, held


@pytest.fixture
async def plant(manager: Manager) -> Manager:
    """The manager with one stopped plant, ``p1``."""
    await manager.create()
    return manager


# -- public ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PUBLIC_ROUTES)
async def test_reading_plants_needs_no_token(plant: Manager, url: str) -> None:
    response = await plant.call("GET", url, None)

    assert response.status_code == 200, response.text


async def test_the_stream_needs_no_token(plant: Manager) -> None:
    broadcaster = plant.service.broadcaster
    request = asyncio.create_task(plant.call("GET", "/api/stream", None))
    while not broadcaster.listeners:
        await asyncio.sleep(0.005)
    broadcaster.close()

    response = await request

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")


# -- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", MUTATING_ROUTES, ids=route_id)
async def test_no_token_is_401_with_www_authenticate_and_changes_nothing(
    plant: Manager, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    before = await snapshot(plant)

    response = await plant.call(method, url, None, json=body)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await snapshot(plant) == before


@pytest.mark.parametrize("route", MUTATING_ROUTES, ids=route_id)
async def test_a_household_is_403_and_changes_nothing(
    plant: Manager, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    household = plant.issuer.user_token("resident", prosumers=["house"])
    before = await snapshot(plant)

    response = await plant.call(method, url, household, json=body)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert await snapshot(plant) == before


@pytest.mark.parametrize("route", PLANT_ROUTES, ids=route_id)
async def test_the_manager_of_another_plant_is_403_and_changes_nothing(
    plant: Manager, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    other = manager_token(plant.issuer, "elsewhere")
    before = await snapshot(plant)

    response = await plant.call(method, url, other, json=body)

    assert response.status_code == 403
    assert await snapshot(plant) == before


async def test_a_push_service_token_may_not_create_plants(plant: Manager) -> None:
    pusher = plant.issuer.service_token("prosumer", scopes=[PUSH_SCOPE])
    before = await snapshot(plant)

    response = await plant.call(*CREATE[:2], pusher, json=CREATE[2])

    assert response.status_code == 403
    assert await snapshot(plant) == before


async def test_an_expired_manager_token_is_401(plant: Manager) -> None:
    claims = plant.issuer.user_claims(managers=["p1"], exp=1_000_000_000, iat=999_999_000)

    response = await plant.call("DELETE", "/api/members/p1", plant.issuer.sign(claims))

    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]
    assert len(plant.service.members()) == 1


async def test_access_is_refused_before_the_body_is_checked(plant: Manager) -> None:
    other = manager_token(plant.issuer, "elsewhere")

    response = await plant.call("PUT", "/api/control/p1", other, json={"ratio": 7})

    assert response.status_code == 403


async def test_access_is_refused_before_the_plant_is_looked_up(plant: Manager) -> None:
    other = manager_token(plant.issuer, "elsewhere")

    response = await plant.call("DELETE", "/api/members/missing", other)

    assert response.status_code == 403


# -- allowed -----------------------------------------------------------------------------------


async def test_any_manager_may_create_a_plant(plant: Manager) -> None:
    other = manager_token(plant.issuer, "elsewhere")

    response = await plant.call(*CREATE[:2], other, json=CREATE[2])

    assert response.status_code == 201
    assert [p.id for p in plant.service.members()] == ["p1", "p2"]


async def test_the_plants_manager_steers_and_deletes_it(plant: Manager) -> None:
    own = manager_token(plant.issuer, "p1")

    steered = await plant.call("PUT", "/api/control/p1", own, json={"ratio": 0.1})
    deleted = await plant.call("DELETE", "/api/members/p1", own)

    assert steered.json()["ratio"] == 0.1
    assert deleted.status_code == 204
    assert plant.service.members() == []


async def test_an_administrator_may_steer_any_plant(plant: Manager) -> None:
    admin = plant.issuer.service_token("admin", scopes=[ADMIN_SCOPE])

    response = await plant.call("POST", "/api/control/p1", admin, json={"status": True})

    assert response.status_code == 200
    assert response.json()["status"] is True


async def test_openapi_says_who_may_call_each_route(manager: Manager) -> None:
    paths = (await manager.client.get("/openapi.json")).json()["paths"]

    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method == "get":
                assert "Public." in operation["description"], path
            else:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
                assert "only." in operation["description"], (method, path)


# -- the manager's own token -------------------------------------------------------------------


async def test_pushes_carry_the_managers_grid_push_token(plant: Manager) -> None:
    await plant.tick(1)

    assert len(plant.cell.pushes) == 1
    caller = plant.cell.callers[-1]
    assert caller.is_service and caller.subject == "manager"
    assert PUSH_SCOPE in caller.scopes


async def test_the_push_token_is_reused_across_ticks(plant: Manager) -> None:
    for _ in range(3):
        await plant.tick(1)

    assert plant.issuer.hits["/token"] == 1
    assert len(plant.cell.pushes) == 3


async def test_a_cell_refusing_the_token_gets_a_new_one_next_tick(plant: Manager) -> None:
    await plant.tick(1)
    plant.cell.refuse = 1
    await plant.tick(1)  # refused: the manager drops its token

    await plant.tick(1)

    assert plant.issuer.hits["/token"] == 2
    assert len(plant.cell.pushes) == 2
    assert plant.cell.tokens[-1] != plant.cell.tokens[0]
    assert (await plant.plant())["stale"] is False


async def test_the_tick_runs_on_without_the_issuer_and_pushes_when_it_returns(
    plant: Manager,
) -> None:
    await plant.client.post("/api/control/p1", json={"status": True})
    plant.issuer.down = True
    await plant.tick(20)

    assert plant.cell.pushes == []
    assert (await plant.plant())["stale"] is True
    assert (await plant.plant())["state"] != "stopped"

    plant.issuer.down = False
    await plant.tick(1)

    assert len(plant.cell.pushes) == 1
    assert (await plant.plant())["stale"] is False
