"""Every route of the simulation cell, with the bad input each one must refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.contracts import CellData, ProsumerState
from services.physics.load import default_timefn
from services.physics.plant import marginal_cost_sek_per_kwh
from tests.simulation.conftest import (
    Cell,
    make_consumer,
    make_legacy_manager,
    make_legacy_prosumer,
    make_plant_state,
    make_prosumer_state,
    make_push,
)

CONSUMERS = "/api/members/consumers"
PROSUMERS = "/api/members/prosumers"
MANAGERS = "/api/members/managers"


async def assert_refused(
    cell: Cell, method: str, path: str, body: Any, status: int = 422
) -> dict[str, Any]:
    """``body`` sent with the token the route wants (grid.push for pushes) is refused."""
    token = cell.push_token if path.endswith("/bulk") else cell.manager_token
    response = await cell.request_as(token, method, path, body)
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()
    assert set(error) == {"error", "detail"}
    return error


def fields_named(error: dict[str, Any]) -> list[str]:
    return [item["field"] for item in error["detail"]]


# -- all members -------------------------------------------------------------------------------


async def test_members_lists_consumers_prosumers_and_managers(cell: Cell):
    await cell.add_consumers(make_consumer())
    await cell.push_prosumers(make_prosumer_state())
    await cell.push_plants(make_plant_state())

    members = await cell.ok("GET", "/api/members")

    assert [m["id"] for m in members["consumers"]] == ["c1"]
    assert [m["id"] for m in members["prosumers"]] == ["p1"]
    assert [m["id"] for m in members["managers"]] == ["coal-1"]


# -- consumers ---------------------------------------------------------------------------------


async def test_consumer_created_without_fields_gets_the_documented_defaults(cell: Cell):
    [created] = await cell.ok("POST", CONSUMERS, {}, 201)

    assert len(created["id"]) == 32
    assert created["timefn"] == pytest.approx(default_timefn().tolist())
    assert created["profile"] == 1.0
    assert created["households"] == 50
    assert created["name"] == "cell-a"
    assert created["demand"] == 0.0 and created["blackout"] is False


async def test_consumers_are_created_from_the_legacy_body_wrapper_and__id(cell: Cell):
    body = {"body": [{"_id": "old-1", "timefn": [0.2] * 24}, {"_id": "old-2"}]}

    created = await cell.ok("POST", CONSUMERS, body, 201)

    assert [c["id"] for c in created] == ["old-1", "old-2"]
    assert created[0]["timefn"] == [0.2] * 24


async def test_consumers_are_created_from_a_bare_list(cell: Cell):
    created = await cell.ok("POST", CONSUMERS, [make_consumer(id="a"), make_consumer(id="b")], 201)

    assert [c["id"] for c in created] == ["a", "b"]


async def test_consumer_keeps_given_profile_households_and_location(cell: Cell):
    body = make_consumer(profile=1.5, households=80, lat=65.6, lon=22.1)

    [created] = await cell.ok("POST", CONSUMERS, body, 201)

    assert (created["profile"], created["households"]) == (1.5, 80)
    assert (created["lat"], created["lon"]) == (65.6, 22.1)


@pytest.mark.parametrize("length", [23, 25, 0])
async def test_timefn_without_exactly_24_values_is_refused(cell: Cell, length: int):
    error = await assert_refused(cell, "POST", CONSUMERS, make_consumer(timefn=[0.5] * length))

    assert fields_named(error) == ["timefn"]
    assert await cell.ok("GET", CONSUMERS) == []


@pytest.mark.parametrize("value", [1.5, -0.1])
async def test_timefn_value_outside_zero_to_one_is_refused(cell: Cell, value: float):
    timefn = [0.5] * 23 + [value]

    error = await assert_refused(cell, "POST", CONSUMERS, make_consumer(timefn=timefn))

    assert fields_named(error) == ["timefn.23"]


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "0.5", True, None])
async def test_timefn_value_that_is_not_a_number_is_refused(cell: Cell, value: Any):
    timefn: list[Any] = [0.5] * 24
    timefn[3] = value

    error = await assert_refused(cell, "POST", CONSUMERS, make_consumer(timefn=timefn))

    assert fields_named(error) == ["timefn.3"]


async def test_nan_literal_in_the_json_is_refused(cell: Cell):
    content = '{"timefn": [NaN' + ", 0.5" * 23 + "]}"

    response = await cell.client.post(
        CONSUMERS, content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert fields_named(response.json()) == ["timefn.0"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("profile", -1.0),
        ("profile", "1"),
        ("households", 0),
        ("households", 2.5),
        ("households", "50"),
        ("lat", 91.0),
        ("lon", -181.0),
        ("id", "has space"),
        ("id", "x" * 65),
        ("id", ""),
    ],
)
async def test_consumer_with_a_bad_field_is_refused_naming_it(cell: Cell, field: str, value: Any):
    error = await assert_refused(cell, "POST", CONSUMERS, make_consumer(**{field: value}))

    assert fields_named(error) == [field]


async def test_consumer_creation_is_all_or_nothing(cell: Cell):
    body = {"body": [make_consumer(id="good"), make_consumer(id="bad", profile=-2)]}

    error = await assert_refused(cell, "POST", CONSUMERS, body)

    assert fields_named(error) == ["1.profile"]
    assert await cell.ok("GET", CONSUMERS) == []


async def test_existing_consumer_id_is_a_conflict_and_creates_nothing(cell: Cell):
    await cell.add_consumers(make_consumer(id="c1"))

    body = [make_consumer(id="c2"), make_consumer(id="c1")]
    error = await assert_refused(cell, "POST", CONSUMERS, body, 409)

    assert error["error"] == "conflict"
    assert [c["id"] for c in await cell.ok("GET", CONSUMERS)] == ["c1"]


async def test_the_same_id_twice_in_one_request_is_refused(cell: Cell):
    await assert_refused(cell, "POST", CONSUMERS, [make_consumer(), make_consumer()])

    assert await cell.ok("GET", CONSUMERS) == []


async def test_malformed_json_is_refused(cell: Cell):
    response = await cell.client.post(
        CONSUMERS, content=b'{"timefn": [', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


@pytest.mark.parametrize("body", [42, "text", [1, 2], {"body": 7}])
async def test_payload_that_is_not_objects_is_refused(cell: Cell, body: Any):
    await assert_refused(cell, "POST", CONSUMERS, body)


async def test_consumer_is_read_by_id(cell: Cell):
    await cell.add_consumers(make_consumer(id="c7", households=12))

    consumer = await cell.ok("GET", f"{CONSUMERS}/c7")

    assert consumer["households"] == 12


async def test_unknown_consumer_is_404(cell: Cell):
    error = await assert_refused(cell, "GET", f"{CONSUMERS}/nobody", None, 404)

    assert error["error"] == "not_found"


async def test_put_consumer_replaces_the_given_fields_and_keeps_the_rest(cell: Cell):
    await cell.add_consumers(make_consumer(households=10, profile=1.0))

    updated = await cell.ok("PUT", f"{CONSUMERS}/c1", {"body": {"timefn": [1.0] * 24}})

    assert updated["timefn"] == [1.0] * 24
    assert (updated["households"], updated["profile"]) == (10, 1.0)
    assert (await cell.ok("GET", f"{CONSUMERS}/c1"))["timefn"] == [1.0] * 24


async def test_put_consumer_with_a_bad_timefn_changes_nothing(cell: Cell):
    await cell.add_consumers(make_consumer())

    await assert_refused(cell, "PUT", f"{CONSUMERS}/c1", {"timefn": [0.5] * 23})

    assert (await cell.ok("GET", f"{CONSUMERS}/c1"))["timefn"] == [0.5] * 24


async def test_put_unknown_consumer_is_404(cell: Cell):
    await assert_refused(cell, "PUT", f"{CONSUMERS}/nobody", {"profile": 2.0}, 404)


async def test_put_consumer_with_another_id_in_the_body_is_refused(cell: Cell):
    await cell.add_consumers(make_consumer())

    error = await assert_refused(cell, "PUT", f"{CONSUMERS}/c1", {"id": "c2", "profile": 2.0})

    assert fields_named(error) == ["id"]


async def test_delete_consumer_removes_it(cell: Cell):
    await cell.add_consumers(make_consumer(id="a"), make_consumer(id="b"))

    removed = await cell.ok("DELETE", f"{CONSUMERS}/a")

    assert removed["id"] == "a"
    assert [c["id"] for c in await cell.ok("GET", CONSUMERS)] == ["b"]


async def test_delete_unknown_consumer_is_404(cell: Cell):
    await assert_refused(cell, "DELETE", f"{CONSUMERS}/nobody", None, 404)


# -- prosumers ---------------------------------------------------------------------------------


async def test_legacy_prosumer_registration_answers_with_the_legacy_keys(cell: Cell):
    [created] = await cell.ok("POST", PROSUMERS, {"body": [make_legacy_prosumer()]}, 201)

    assert created["totalProduction"] == 4.0
    assert (created["totalCapacity"], created["currentCapacity"]) == (10.0, 2.5)
    assert (created["name"], created["status"]) == ("prosumers-a", True)
    assert created["offered_kw"] == 4.0 and created["requested_kw"] == 0.0
    assert created["stale"] is False and created["blackout"] is False


async def test_legacy_prosumer_with_load_above_production_asks_the_market(cell: Cell):
    body = make_legacy_prosumer(totalProduction=1.0, load_kw=3.0)

    [created] = await cell.ok("POST", PROSUMERS, body, 201)

    assert (created["offered_kw"], created["requested_kw"]) == (0.0, 2.0)


async def test_existing_prosumer_id_is_a_conflict(cell: Cell):
    await cell.ok("POST", PROSUMERS, make_legacy_prosumer(), 201)

    await assert_refused(cell, "POST", PROSUMERS, make_legacy_prosumer(), 409)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("totalProduction", -1.0),
        ("totalCapacity", "10"),
        ("status", "yes"),
        ("load_kw", float("inf")),
        ("id", "a/b"),
    ],
)
async def test_prosumer_with_a_bad_field_is_refused(cell: Cell, field: str, value: Any):
    body = make_legacy_prosumer(**{field: value})
    response = await cell.client.post(
        PROSUMERS,
        content=json.dumps(body),  # writes inf as the non-standard Infinity
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert fields_named(response.json()) == [field]
    assert await cell.ok("GET", PROSUMERS) == []


async def test_prosumer_storing_more_than_its_capacity_is_refused(cell: Cell):
    await assert_refused(cell, "POST", PROSUMERS, make_legacy_prosumer(currentCapacity=11.0))


async def test_prosumer_is_read_by_id(cell: Cell):
    await cell.push_prosumers(make_prosumer_state(id="p9"))

    prosumer = await cell.ok("GET", f"{PROSUMERS}/p9")

    assert prosumer["totalProduction"] == 3.0 and prosumer["name"] == "prosumers-a"


async def test_unknown_prosumer_is_404(cell: Cell):
    await assert_refused(cell, "GET", f"{PROSUMERS}/nobody", None, 404)


async def test_put_prosumer_replaces_its_state(cell: Cell):
    await cell.ok("POST", PROSUMERS, make_legacy_prosumer(), 201)

    body = {"body": make_legacy_prosumer(totalProduction=7.0, currentCapacity=9.0)}
    updated = await cell.ok("PUT", f"{PROSUMERS}/p1", body)

    assert (updated["totalProduction"], updated["currentCapacity"]) == (7.0, 9.0)
    assert updated["offered_kw"] == 7.0


async def test_put_unknown_prosumer_is_404(cell: Cell):
    await assert_refused(cell, "PUT", f"{PROSUMERS}/nobody", make_legacy_prosumer(id=None), 404)


async def test_put_prosumer_with_a_negative_value_changes_nothing(cell: Cell):
    await cell.ok("POST", PROSUMERS, make_legacy_prosumer(), 201)

    await assert_refused(cell, "PUT", f"{PROSUMERS}/p1", make_legacy_prosumer(totalProduction=-3))

    assert (await cell.ok("GET", f"{PROSUMERS}/p1"))["totalProduction"] == 4.0


async def test_delete_prosumer_removes_it(cell: Cell):
    await cell.push_prosumers(make_prosumer_state())

    await cell.ok("DELETE", f"{PROSUMERS}/p1")

    assert await cell.ok("GET", PROSUMERS) == []


async def test_delete_unknown_prosumer_is_404(cell: Cell):
    await assert_refused(cell, "DELETE", f"{PROSUMERS}/nobody", None, 404)


async def test_push_registers_unknown_prosumers(cell: Cell):
    await cell.push_prosumers(make_prosumer_state(id="a"), make_prosumer_state(id="b"))

    prosumers = await cell.ok("GET", PROSUMERS)

    assert [p["id"] for p in prosumers] == ["a", "b"]
    assert all(p["source"] == "own" and p["load_kw"] == 1.0 for p in prosumers)


@pytest.mark.parametrize(
    ("field", "value"),
    [("offered_kw", -1.0), ("source", "wind"), ("status", "maybe"), ("requested_kw", None)],
)
async def test_push_with_a_bad_member_field_is_refused(cell: Cell, field: str, value: Any):
    push = make_push(make_prosumer_state(**{field: value}))

    error = await assert_refused(cell, "POST", f"{PROSUMERS}/bulk", push)

    assert fields_named(error) == [f"members.0.{field}"]
    assert await cell.ok("GET", PROSUMERS) == []


async def test_push_with_a_bad_member_id_is_refused(cell: Cell):
    push = make_push(make_prosumer_state(id="ok"), make_prosumer_state(id="not ok"))

    error = await assert_refused(cell, "POST", f"{PROSUMERS}/bulk", push)

    assert fields_named(error) == ["members.1.id"]
    assert await cell.ok("GET", PROSUMERS) == []


async def test_push_naming_a_member_twice_is_refused(cell: Cell):
    push = make_push(make_prosumer_state(), make_prosumer_state())

    await assert_refused(cell, "POST", f"{PROSUMERS}/bulk", push)


def as_columns(*states: dict[str, Any]) -> dict[str, list[Any]]:
    rows = [ProsumerState.model_validate(state).model_dump() for state in states]
    return {name: [row[name] for row in rows] for name in rows[0]}


async def test_push_in_columns_is_read_like_a_push_of_rows(cell: Cell):
    states = (make_prosumer_state(id="a"), make_prosumer_state(id="b", offered_kw=2.5))
    push = {**make_push(), "members": as_columns(*states)}

    response = await cell.request_as(cell.push_token, "POST", f"{PROSUMERS}/bulk", push)

    assert response.status_code == 200, response.text
    prosumers = await cell.ok("GET", PROSUMERS)
    assert [(p["id"], p["offered_kw"]) for p in prosumers] == [("a", 2.0), ("b", 2.5)]


async def test_push_with_columns_of_unequal_length_is_refused(cell: Cell):
    columns = as_columns(make_prosumer_state(id="a"), make_prosumer_state(id="b"))
    columns["load_kw"] = columns["load_kw"][:1]

    error = await assert_refused(
        cell, "POST", f"{PROSUMERS}/bulk", {**make_push(), "members": columns}
    )

    assert "load_kw" in json.dumps(error["detail"])
    assert await cell.ok("GET", PROSUMERS) == []


async def test_push_without_members_is_refused(cell: Cell):
    await assert_refused(cell, "POST", f"{PROSUMERS}/bulk", {"source": "x", "time": "2026"})


# -- managers ----------------------------------------------------------------------------------


async def test_legacy_manager_registration_takes_maxproduciton_and_fills_defaults(cell: Cell):
    [created] = await cell.ok("POST", MANAGERS, {"body": [make_legacy_manager()]}, 201)

    assert created["maxProduction"] == 100.0 and created["current"] == 50.0
    assert created["offered_kw"] == 50.0
    assert created["marginal_cost_sek_per_kwh"] == pytest.approx(float(marginal_cost_sek_per_kwh()))
    assert created["state"] == "running" and created["ratio"] == 0.5
    assert created["co2_kg_per_h"] > 0


async def test_manager_without_max_production_is_refused(cell: Cell):
    body = make_legacy_manager()
    del body["maxProduciton"]

    error = await assert_refused(cell, "POST", MANAGERS, body)

    assert fields_named(error) == ["maxProduction"]


@pytest.mark.parametrize(
    "overrides",
    [{"current": 150.0}, {"current": -1.0}, {"ratio": 1.5}, {"state": "exploding"}],
)
async def test_manager_with_bad_values_is_refused(cell: Cell, overrides: dict[str, Any]):
    await assert_refused(cell, "POST", MANAGERS, make_legacy_manager(**overrides))

    assert await cell.ok("GET", MANAGERS) == []


async def test_existing_manager_id_is_a_conflict(cell: Cell):
    await cell.ok("POST", MANAGERS, make_legacy_manager(), 201)

    await assert_refused(cell, "POST", MANAGERS, make_legacy_manager(), 409)


async def test_manager_is_read_by_id(cell: Cell):
    await cell.push_plants(make_plant_state())

    plant = await cell.ok("GET", f"{MANAGERS}/coal-1")

    assert (plant["current"], plant["maxProduction"]) == (100.0, 200.0)
    assert plant["name"] == "managers-a" and plant["co2_total_kg"] == 10.0


async def test_unknown_manager_is_404(cell: Cell):
    await assert_refused(cell, "GET", f"{MANAGERS}/nobody", None, 404)


async def test_put_manager_replaces_its_state(cell: Cell):
    await cell.ok("POST", MANAGERS, make_legacy_manager(), 201)

    body = {"_id": "m1", "current": 80.0, "maxProduction": 100.0, "status": True}
    updated = await cell.ok("PUT", f"{MANAGERS}/m1", body)

    assert updated["current"] == 80.0 and updated["offered_kw"] == 80.0


async def test_put_manager_stopped_says_stopping_while_it_still_produces(cell: Cell):
    await cell.ok("POST", MANAGERS, make_legacy_manager(), 201)

    updated = await cell.ok("PUT", f"{MANAGERS}/m1", make_legacy_manager(status=False))

    assert updated["state"] == "stopping"


async def test_put_unknown_manager_is_404(cell: Cell):
    await assert_refused(cell, "PUT", f"{MANAGERS}/nobody", make_legacy_manager(id=None), 404)


async def test_put_manager_with_a_bad_value_is_refused(cell: Cell):
    await cell.ok("POST", MANAGERS, make_legacy_manager(), 201)

    await assert_refused(cell, "PUT", f"{MANAGERS}/m1", make_legacy_manager(current="lots"))


async def test_delete_manager_removes_it(cell: Cell):
    await cell.push_plants(make_plant_state())

    await cell.ok("DELETE", f"{MANAGERS}/coal-1")

    assert await cell.ok("GET", MANAGERS) == []


async def test_delete_unknown_manager_is_404(cell: Cell):
    await assert_refused(cell, "DELETE", f"{MANAGERS}/nobody", None, 404)


async def test_plant_push_registers_unknown_plants(cell: Cell):
    await cell.push_plants(make_plant_state(id="coal-1"), make_plant_state(id="coal-2"))

    assert [m["id"] for m in await cell.ok("GET", MANAGERS)] == ["coal-1", "coal-2"]


async def test_plant_push_with_a_ratio_above_one_is_refused(cell: Cell):
    push = make_push(make_plant_state(ratio=1.5))

    error = await assert_refused(cell, "POST", f"{MANAGERS}/bulk", push)

    assert fields_named(error) == ["members.0.ratio"]


# -- totals, history, health -------------------------------------------------------------------


async def test_data_is_the_cell_data_contract_with_the_cell_name(cell: Cell):
    data = CellData.model_validate(await cell.data())

    assert data.cell == "cell-a"


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-01-15T18:00:00Z&to=2026-01-15T17:00:00Z",
        "from=2026-01-15T18:00:00Z&to=2026-01-15T18:00:00Z",
        "step=0",
        "step=-5",
        "step=abc",
        "from=yesterday",
    ],
)
async def test_history_with_a_bad_range_is_refused(cell: Cell, query: str):
    response = await cell.client.get(f"/api/history?{query}")

    assert response.status_code == 422, response.text


async def test_ready_without_the_weather_service(cell: Cell):
    cell.weather.up = False

    readiness = await cell.ok("GET", "/readyz")

    assert set(readiness["checks"]) == {"storage"}


async def test_openapi_documents_every_route_with_a_description(cell: Cell):
    paths = (await cell.ok("GET", "/openapi.json"))["paths"]

    operations = [
        op for path, ops in paths.items() if path.startswith("/api/") for op in ops.values()
    ]
    assert len(operations) == 21
    assert all(op.get("description") for op in operations)
