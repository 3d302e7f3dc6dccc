"""Who may call which market route, and the grid.poll token the market polls cells with."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from services.common.security import POLL_SCOPE
from tests.market.conftest import Market

CELL = {"id": "a", "destination": "http://cell-a:8005"}

# (method, path, body) of every route that changes something: managers only.
MUTATIONS = [
    ("POST", "/api/members", {"id": "b", "destination": "http://cell-b:8005"}),
    ("DELETE", "/api/members/a", None),
    ("PUT", "/api/price/override", {"price": 9.0}),
    ("DELETE", "/api/price/override", None),
]
READS = [
    "/api/members",
    "/api/members/a",
    "/api/member/a",
    "/api/price",
    "/api/price/override",
    "/api/history",
]


async def stored_state(market: Market) -> tuple[Any, ...]:
    """The cells and the override, as stored and as served."""
    repository = market.service.repository
    return (
        sorted(await repository.cells(), key=lambda c: c.id),
        await repository.override(),
        (await market.client.get("/api/members")).json(),
        (await market.client.get("/api/price/override")).json(),
    )


async def seeded(market: Market) -> tuple[Any, ...]:
    """One cell and an override set by the manager; the state stored afterwards."""
    assert (await market.client.post("/api/members", json=CELL)).status_code == 201
    assert (await market.client.put("/api/price/override", json={"price": 2.0})).status_code == 200
    return await stored_state(market)


# -- routes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
async def test_a_change_without_a_token_is_401_and_changes_nothing(
    market: Market, method: str, path: str, body: Any
):
    before = await seeded(market)

    response = await market.request_as(None, method, path, body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert await stored_state(market) == before


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
async def test_a_change_with_an_expired_token_is_401_and_changes_nothing(
    market: Market, method: str, path: str, body: Any
):
    before = await seeded(market)
    expired = market.issuer.user_token("boss", managers=["plant-1"], exp=1)

    response = await market.request_as(expired, method, path, body)

    assert response.status_code == 401
    assert await stored_state(market) == before


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
@pytest.mark.parametrize("who", ["prosumer", "poller"])
async def test_a_change_by_someone_not_a_manager_is_403_and_changes_nothing(
    market: Market, method: str, path: str, body: Any, who: str
):
    before = await seeded(market)
    token = (
        market.issuer.user_token("ada", prosumers=["p-1"])
        if who == "prosumer"
        else market.issuer.service_token("market", scopes=[POLL_SCOPE])
    )

    response = await market.request_as(token, method, path, body)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert await stored_state(market) == before


async def test_access_is_checked_before_the_body(market: Market):
    token = market.issuer.user_token("ada", prosumers=["p-1"])

    response = await market.request_as(token, "PUT", "/api/price/override", {"price": "high"})

    assert response.status_code == 403


async def test_an_administrator_client_may_change_the_override(market: Market):
    token = market.issuer.service_token("admin", scopes=["admin"])

    response = await market.request_as(token, "PUT", "/api/price/override", {"price": 1.5})

    assert response.status_code == 200
    assert (await stored_state(market))[1] == 1.5


@pytest.mark.parametrize("path", READS)
async def test_reads_are_public(market: Market, path: str):
    await seeded(market)

    response = await market.request_as(None, "GET", path, None)

    assert response.status_code == 200, response.text


async def test_the_routes_declare_who_may_call_them(market: Market):
    schema = (await market.client.get("/openapi.json")).json()
    for method, path, _ in MUTATIONS:
        template = path.replace("/members/a", "/members/{cell_id}")
        operation = schema["paths"][template][method.lower()]
        assert "Managers only." in operation["description"]
        assert {"401", "403"} <= set(operation["responses"])
    for path in ["/api/members", "/api/price", "/api/history", "/api/stream"]:
        assert "Public." in schema["paths"][path]["get"]["description"]


# -- the market's own token ----------------------------------------------------------------------


async def test_polls_carry_the_markets_grid_poll_token(market: Market):
    cell = market.network.add("cell-a")
    await market.register(cell)

    await market.tick()

    [caller] = cell.callers
    assert caller.is_service
    assert caller.subject == "market" and caller.client_id == "market"
    assert POLL_SCOPE in caller.scopes


async def test_the_token_is_reused_across_ticks_and_cells(market: Market):
    a, b = market.network.add("cell-a"), market.network.add("cell-b")
    await market.register(a, b)

    for _ in range(3):
        await market.tick()

    assert len(a.callers) == len(b.callers) == 3
    assert market.issuer.hits["/token"] == 1


async def test_a_refused_token_is_replaced_on_the_next_tick(market: Market):
    cell = market.network.add("cell-a", totalDemand=10)
    await market.register(cell)
    await market.tick()
    cell.refuse_tokens = True

    refused = await market.tick()
    cell.refuse_tokens = False
    answered = await market.tick()

    assert refused["stale_cells"] == ["cell-a"]
    assert answered["stale_cells"] == []
    assert market.issuer.hits["/token"] == 2
    assert len(cell.callers) == 2


async def test_without_the_issuer_the_tick_goes_on_and_logs_once(market: Market, caplog):
    cell = market.network.add("cell-a", totalDemand=10)
    await market.register(cell)
    market.issuer.down = True

    with caplog.at_level(logging.WARNING, logger="services.market.service"):
        prices = [await market.tick() for _ in range(3)]

    assert all(price["stale_cells"] == ["cell-a"] for price in prices)
    assert cell.polls == 0
    [record] = [r for r in caplog.records if r.name == "services.market.service"]
    assert "no access token" in record.getMessage()

    market.issuer.down = False
    assert (await market.tick())["stale_cells"] == []
