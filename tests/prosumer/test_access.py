"""Who may call which prosumer route, and the token the service pushes to the cells with."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.security import ADMIN_SCOPE, PUSH_SCOPE
from services.prosumer.repository import COLLECTION
from tests.prosumer.fakes import Harness, make_prosumer, read_stream

HOUSE = "house"

MANAGER_ROUTES = [
    ("GET", "/api/members", None),
    ("POST", "/api/members", make_prosumer(id="new-house")),
    ("PUT", f"/api/members/{HOUSE}", make_prosumer(turbines=[1.0])),
    ("DELETE", f"/api/members/{HOUSE}", None),
    ("POST", f"/api/members/{HOUSE}/block", {"seconds": 30}),
    ("DELETE", f"/api/members/{HOUSE}/block", None),
    ("GET", "/api/stream", None),
]
"""Routes for managers only."""

HOUSEHOLD_ROUTES = [
    ("GET", f"/api/members/{HOUSE}", None),
    ("GET", f"/api/control/{HOUSE}", None),
    ("PUT", f"/api/control/{HOUSE}", {"input_ratio": 0.1, "status": False}),
    ("POST", f"/api/control/{HOUSE}", {"output_ratio": 0.9}),
]
"""Routes the household itself may use as well (the stream of its member too, tested apart)."""

ALL_ROUTES = [*MANAGER_ROUTES, *HOUSEHOLD_ROUTES, ("GET", f"/api/stream?id={HOUSE}", None)]


def route_id(route: tuple[str, str, Any]) -> str:
    return f"{route[0]} {route[1]}"


async def snapshot(prosumer: Harness) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What is stored and what the service holds: a refused request changes neither."""
    stored = await prosumer.service.runtime.storage.list(COLLECTION)
    held = [member.model_dump(mode="json") for member in prosumer.service.list_members()]
    return stored, held


@pytest.fixture
async def house(prosumer: Harness) -> Harness:
    """The service with one member, ``house``, blocked so that unblocking would change it."""
    await prosumer.create(id=HOUSE)
    response = await prosumer.client.post(f"/api/members/{HOUSE}/block", json={"seconds": 30})
    assert response.status_code == 200
    return prosumer


# -- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES, ids=route_id)
async def test_no_token_is_401_with_www_authenticate_and_changes_nothing(
    house: Harness, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    before = await snapshot(house)

    response = await house.call(method, url, None, json=body)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await snapshot(house) == before


@pytest.mark.parametrize("route", ALL_ROUTES, ids=route_id)
async def test_another_household_is_403_and_changes_nothing(
    house: Harness, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    neighbour = house.issuer.user_token("neighbour", prosumers=["other-house"])
    before = await snapshot(house)

    response = await house.call(method, url, neighbour, json=body)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert await snapshot(house) == before


@pytest.mark.parametrize("route", MANAGER_ROUTES, ids=route_id)
async def test_the_household_is_403_on_routes_for_managers(
    house: Harness, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    own = house.issuer.user_token("owner", prosumers=[HOUSE])
    before = await snapshot(house)

    response = await house.call(method, url, own, json=body)

    assert response.status_code == 403
    assert await snapshot(house) == before


async def test_a_service_token_is_not_a_manager(house: Harness) -> None:
    pusher = house.issuer.service_token("simulation", scopes=[PUSH_SCOPE])

    response = await house.call("POST", "/api/members", pusher, json=make_prosumer())

    assert response.status_code == 403
    assert await house.service.runtime.storage.list(COLLECTION) != []
    assert len(house.service.list_members()) == 1


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1_000_000_000, "iat": 999_999_000},
        {"aud": "someone-else"},
        {"iss": "http://impostor.test"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
async def test_an_invalid_manager_token_is_401(house: Harness, claims: dict[str, Any]) -> None:
    token = house.issuer.sign(house.issuer.user_claims(managers=["plant-1"], **claims))

    response = await house.call("GET", "/api/members", token)

    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


async def test_a_forged_manager_token_is_401(house: Harness) -> None:
    claims = house.issuer.user_claims(managers=["plant-1"])
    forged = house.issuer.sign(claims, key=house.issuer.stranger_key())

    response = await house.call("DELETE", f"/api/members/{HOUSE}", forged)

    assert response.status_code == 401
    assert len(house.service.list_members()) == 1


async def test_access_is_refused_before_the_body_is_checked(house: Harness) -> None:
    neighbour = house.issuer.user_token("neighbour", prosumers=["other-house"])

    response = await house.call("PUT", f"/api/control/{HOUSE}", neighbour, json={"input_ratio": 5})

    assert response.status_code == 403


async def test_access_is_refused_before_the_member_is_looked_up(house: Harness) -> None:
    neighbour = house.issuer.user_token("neighbour", prosumers=["other-house"])

    response = await house.call("GET", "/api/members/nobody", neighbour)

    assert response.status_code == 403


# -- allowed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", HOUSEHOLD_ROUTES, ids=route_id)
async def test_the_household_may_use_its_own_routes(
    house: Harness, route: tuple[str, str, Any]
) -> None:
    method, url, body = route
    own = house.issuer.user_token("owner", prosumers=[HOUSE])

    response = await house.call(method, url, own, json=body)

    assert response.status_code == 200, response.text


async def test_the_household_changes_its_own_controls(house: Harness) -> None:
    own = house.issuer.user_token("owner", prosumers=[HOUSE])

    await house.call("PUT", f"/api/control/{HOUSE}", own, json={"input_ratio": 0.1})

    assert (await house.member(HOUSE))["input_ratio"] == 0.1


async def test_the_household_streams_its_own_member(house: Harness) -> None:
    own = house.issuer.user_token("owner", prosumers=[HOUSE])

    events = await read_stream(house, f"?id={HOUSE}", token=own)

    assert [event["id"] for event in events] == [HOUSE]


async def test_an_administrator_may_do_what_a_manager_may(house: Harness) -> None:
    admin = house.issuer.service_token("admin", scopes=[ADMIN_SCOPE])

    response = await house.call("DELETE", f"/api/members/{HOUSE}", admin)

    assert response.status_code == 200
    assert house.service.list_members() == []


async def test_openapi_declares_401_and_403_on_every_route(prosumer: Harness) -> None:
    paths = (await prosumer.client.get("/openapi.json")).json()["paths"]

    operations = [
        operation
        for path, item in paths.items()
        if path.startswith("/api/")
        for operation in item.values()
    ]

    assert len(operations) == 14
    assert all({"401", "403"} <= set(operation["responses"]) for operation in operations)


# -- the service's own token -------------------------------------------------------------------


async def test_pushes_carry_the_services_grid_push_token(house: Harness) -> None:
    await house.tick()

    for cell in house.peers.cells.values():
        assert len(cell.pushes) == 1
        caller = cell.callers[-1]
        assert caller.is_service and caller.subject == "prosumer"
        assert PUSH_SCOPE in caller.scopes


async def test_the_push_token_is_reused_across_ticks(house: Harness) -> None:
    for _ in range(3):
        await house.tick()

    assert house.issuer.hits["/token"] == 1
    assert len(house.peers.cell.pushes) == 3


async def test_a_cell_refusing_the_token_gets_a_new_one_next_tick(house: Harness) -> None:
    await house.tick()
    house.peers.cell.refuse = 1
    await house.tick()  # refused: the service drops its token

    await house.tick()

    cell = house.peers.cell
    assert house.issuer.hits["/token"] == 2
    assert len(cell.pushes) == 2
    assert cell.tokens[-1] != cell.tokens[0]


async def test_the_tick_runs_on_without_the_issuer_and_pushes_when_it_returns(
    house: Harness,
) -> None:
    house.issuer.down = True
    await house.tick()

    assert house.peers.cell.pushes == []
    assert (await house.member(HOUSE))["production_kw"] > 0

    house.issuer.down = False
    await house.tick()

    assert len(house.peers.cell.pushes) == 1
