"""Market routes: cells, price, override and history, and how each refuses bad input."""

from __future__ import annotations

import pytest

from services.physics.market import SCARCITY_CAP_SEK_PER_KWH
from tests.market.conftest import Market, make_settings, running_market

CELL = "http://cell-a:8005"


async def post_cells(market: Market, payload: object) -> tuple[int, object]:
    response = await market.client.post("/api/members", json=payload)
    return response.status_code, response.json()


async def registered_ids(market: Market) -> list[str]:
    return [cell["id"] for cell in (await market.client.get("/api/members")).json()]


# -- cells ---------------------------------------------------------------------------------------


async def test_no_cells_at_start(market: Market):
    response = await market.client.get("/api/members")
    assert response.status_code == 200
    assert response.json() == []


async def test_register_in_the_original_body_form(market: Market):
    status, body = await post_cells(market, {"body": [{"destination": CELL}]})
    assert status == 201
    assert body == [
        {
            "id": body[0]["id"],
            "destination": CELL,
            "stale": True,
            "last_seen": None,
            "name": "default",
        }
    ]


async def test_register_a_list(market: Market):
    status, body = await post_cells(
        market, [{"destination": CELL}, {"destination": "https://cell-b.example/sim"}]
    )
    assert status == 201
    assert [cell["destination"] for cell in body] == [CELL, "https://cell-b.example/sim"]


async def test_register_one_object_with_its_id(market: Market):
    status, body = await post_cells(market, {"id": "north-1", "destination": CELL})
    assert status == 201
    assert body[0]["id"] == "north-1"


async def test_register_accepts_the_original_underscore_id(market: Market):
    _, body = await post_cells(market, {"_id": "north-1", "destination": CELL})
    assert body[0]["id"] == "north-1"


async def test_an_id_is_generated_when_absent(market: Market):
    _, body = await post_cells(market, {"destination": CELL})
    assert len(body[0]["id"]) == 32
    assert int(body[0]["id"], 16) >= 0


async def test_destination_is_stored_without_trailing_slash_and_with_lower_case_host(
    market: Market,
):
    _, body = await post_cells(market, {"destination": "HTTP://Cell-A:8005/"})
    assert body[0]["destination"] == CELL


@pytest.mark.parametrize(
    "destination",
    [
        "cell-a:8005",
        "/api/data",
        "ftp://cell-a/",
        "http://",
        "http://cell-a:99999",
        "http://cell-a:8005/?x=1",
        "",
        42,
        None,
    ],
)
async def test_destination_that_is_not_an_http_url_is_422(market: Market, destination: object):
    status, body = await post_cells(market, {"destination": destination})
    assert status == 422
    assert body["error"] == "invalid_input"
    assert body["detail"][0]["field"] == "destination"
    assert await registered_ids(market) == []


async def test_missing_destination_is_422(market: Market):
    status, body = await post_cells(market, {"id": "a"})
    assert status == 422
    assert body["detail"][0]["field"] == "destination"


@pytest.mark.parametrize("cell_id", ["", "has space", "x" * 65, "slash/id"])
async def test_invalid_id_is_422(market: Market, cell_id: str):
    status, body = await post_cells(market, {"id": cell_id, "destination": CELL})
    assert status == 422
    assert body["detail"][0]["field"] == "id"


async def test_existing_id_is_409(market: Market):
    await post_cells(market, {"id": "a", "destination": CELL})
    status, body = await post_cells(market, {"id": "a", "destination": "http://cell-b:8005"})
    assert status == 409
    assert body["error"] == "conflict"


async def test_already_registered_destination_is_409(market: Market):
    await post_cells(market, {"id": "a", "destination": CELL})
    status, body = await post_cells(market, {"id": "b", "destination": CELL + "/"})
    assert status == 409
    assert "already registered as cell 'a'" in body["detail"]


async def test_a_batch_with_one_bad_cell_registers_none(market: Market):
    status, _ = await post_cells(market, [{"destination": CELL}, {"destination": "nowhere"}])
    assert status == 422
    assert await registered_ids(market) == []


async def test_a_batch_with_one_conflicting_cell_registers_none(market: Market):
    await post_cells(market, {"id": "a", "destination": CELL})
    status, _ = await post_cells(
        market, [{"id": "b", "destination": "http://cell-b:8005"}, {"id": "a", "destination": CELL}]
    )
    assert status == 409
    assert await registered_ids(market) == ["a"]


async def test_an_id_repeated_within_a_batch_is_422(market: Market):
    status, body = await post_cells(
        market, [{"id": "a", "destination": CELL}, {"id": "a", "destination": "http://b:1"}]
    )
    assert status == 422
    assert body["detail"][0]["field"] == "id"


async def test_a_destination_repeated_within_a_batch_is_422(market: Market):
    status, body = await post_cells(market, [{"destination": CELL}, {"destination": CELL}])
    assert status == 422
    assert body["detail"][0]["field"] == "destination"


@pytest.mark.parametrize("payload", [[], {"body": []}, "cell", 3])
async def test_no_cell_or_not_an_object_is_422(market: Market, payload: object):
    status, body = await post_cells(market, payload)
    assert status == 422
    assert body["error"] == "invalid_input"


async def test_malformed_json_is_422(market: Market):
    response = await market.client.post(
        "/api/members", content=b'{"destination": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


@pytest.mark.parametrize("path", ["/api/members/a", "/api/member/a"])
async def test_one_cell_by_id_at_both_spellings(market: Market, path: str):
    await post_cells(market, {"id": "a", "destination": CELL})
    response = await market.client.get(path)
    assert response.status_code == 200
    assert response.json()["destination"] == CELL


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/members/nope"), ("GET", "/api/member/nope"), ("DELETE", "/api/members/nope")],
)
async def test_unknown_cell_is_404(market: Market, method: str, path: str):
    response = await market.client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no cell 'nope'"}


async def test_delete_answers_the_cell_and_forgets_it(market: Market):
    await post_cells(market, {"id": "a", "destination": CELL})
    response = await market.client.delete("/api/members/a")
    assert response.status_code == 200
    assert response.json()["id"] == "a"
    assert await registered_ids(market) == []


async def test_cells_are_stored_and_reloaded_on_start(tmp_path):
    settings = make_settings(tmp_path)
    async with running_market(settings) as market:
        await post_cells(
            market, [{"id": "a", "destination": CELL}, {"id": "b", "destination": "http://b:1"}]
        )
        await market.client.delete("/api/members/b")
    async with running_market(settings) as market:
        assert await registered_ids(market) == ["a"]


async def test_an_instance_sees_only_the_cells_of_its_name(tmp_path):
    async with running_market(make_settings(tmp_path, name="north")) as market:
        await post_cells(market, {"id": "a", "destination": CELL})
    async with running_market(make_settings(tmp_path, name="south")) as market:
        assert await registered_ids(market) == []


# -- price and override --------------------------------------------------------------------------


async def test_price_without_cells_is_zero_and_says_why(market: Market):
    response = await market.client.get("/api/price")
    assert response.status_code == 200
    body = response.json()
    assert body["price"] == 0.0
    assert body["stats"] == {"totalDemand": 0.0, "totalProduction": 0.0}
    assert body["cells"] == 0 and body["stale"] is False and body["stale_cells"] == []
    assert body["override"] is None and body["scarcity"] is False
    assert "no cell registered" in body["note"]


async def test_override_is_none_at_start(market: Market):
    response = await market.client.get("/api/price/override")
    assert response.status_code == 200
    assert response.json() == {"price": None}


async def test_override_applies_to_the_price_at_once(market: Market):
    response = await market.client.put("/api/price/override", json={"price": 1.25})
    assert response.status_code == 200
    assert response.json() == {"price": 1.25}
    body = (await market.client.get("/api/price")).json()
    assert body["price"] == 1.25 and body["override"] == 1.25 and body["modelled_price"] == 0.0


async def test_override_of_the_cap_itself_is_accepted(market: Market):
    response = await market.client.put(
        "/api/price/override", json={"price": SCARCITY_CAP_SEK_PER_KWH}
    )
    assert response.status_code == 200


async def test_clearing_the_override_restores_the_modelled_price(market: Market):
    await market.client.put("/api/price/override", json={"price": 2})
    response = await market.client.delete("/api/price/override")
    assert response.status_code == 200
    assert response.json() == {"price": None}
    assert (await market.client.get("/api/price")).json()["price"] == 0.0


async def test_override_is_stored_and_reloaded_on_start(tmp_path):
    settings = make_settings(tmp_path)
    async with running_market(settings) as market:
        await market.client.put("/api/price/override", json={"price": 3.5})
    async with running_market(settings) as market:
        assert (await market.client.get("/api/price/override")).json() == {"price": 3.5}


async def test_a_cleared_override_stays_cleared_after_restart(tmp_path):
    settings = make_settings(tmp_path)
    async with running_market(settings) as market:
        await market.client.put("/api/price/override", json={"price": 3.5})
        await market.client.delete("/api/price/override")
    async with running_market(settings) as market:
        assert (await market.client.get("/api/price/override")).json() == {"price": None}


@pytest.mark.parametrize(
    "payload",
    [
        {"price": -1},
        {"price": SCARCITY_CAP_SEK_PER_KWH + 0.01},
        {"price": "1.5"},
        {"price": True},
        {"price": None},
        {},
        {"price": 1, "currency": "EUR"},
        [1],
    ],
)
async def test_bad_override_is_422_and_changes_nothing(market: Market, payload: object):
    await market.client.put("/api/price/override", json={"price": 1.0})
    response = await market.client.put("/api/price/override", json=payload)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert (await market.client.get("/api/price/override")).json() == {"price": 1.0}


async def test_override_in_malformed_json_is_422(market: Market):
    response = await market.client.put(
        "/api/price/override", content=b"{price: 1}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_non_finite_override_is_422(market: Market):
    response = await market.client.put(
        "/api/price/override",
        content=b'{"price": NaN}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


# -- history -------------------------------------------------------------------------------------


async def test_history_has_the_startup_tick(market: Market):
    response = await market.client.get("/api/history")
    assert response.status_code == 200
    [point] = response.json()["points"]
    assert set(point) == {"time", "price", "modelled_price", "totalDemand", "totalProduction"}


@pytest.mark.parametrize(
    "query",
    [
        "from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z",
        "step=0",
        "step=-5",
        "step=often",
        "from=yesterday",
    ],
)
async def test_bad_history_query_is_422(market: Market, query: str):
    response = await market.client.get(f"/api/history?{query}")
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


async def test_health_names_the_service(market: Market):
    body = (await market.client.get("/healthz")).json()
    assert body["service"] == "market" and body["tick"]["ticks"] >= 1


async def test_health_reports_cells_and_stale_cells(market: Market):
    await post_cells(market, {"id": "a", "destination": CELL})
    await market.service.tick()
    metrics = (await market.client.get("/healthz")).json()["metrics"]
    assert metrics["cells"] == 1 and metrics["stale_cells"] == 1
