"""The manager's routes: every one, with each kind of bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.manager.repository import COLLECTION
from tests.manager.conftest import Manager, make_plant


def fields_named(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["detail"]}


# -- GET /api/members ------------------------------------------------------------------------


async def test_list_is_wrapped_in_body_like_the_original(manager: Manager) -> None:
    response = await manager.client.get("/api/members")
    assert response.status_code == 200
    assert response.json() == {"body": []}


async def test_list_shows_every_plant(manager: Manager) -> None:
    await manager.create(id="a")
    await manager.create(id="b")
    response = await manager.client.get("/api/members")
    assert [plant["id"] for plant in response.json()["body"]] == ["a", "b"]


# -- POST /api/members -----------------------------------------------------------------------


async def test_create_answers_201_with_the_plant_and_its_defaults(manager: Manager) -> None:
    response = await manager.client.post("/api/members", json={"maxProduction": 1000})
    assert response.status_code == 201
    plant = response.json()
    assert plant["maxProduction"] == 1000
    assert "maxProduciton" not in plant
    assert plant["ratio"] == 0.5
    assert plant["status"] is False
    assert plant["state"] == "stopped"
    assert plant["current"] == 0
    assert plant["buffer"] == {"capacity": 500, "maxOutput": 250, "maxCharge": 250, "current": 0}
    assert plant["buffer_ratio"] == 0.05
    assert plant["name"] == "default"


async def test_create_generates_an_id_when_none_is_given(manager: Manager) -> None:
    response = await manager.client.post("/api/members", json={"maxProduction": 1000})
    plant_id = response.json()["id"]
    assert len(plant_id) == 32
    assert (await manager.client.get(f"/api/members/{plant_id}")).status_code == 200


async def test_create_accepts_the_legacy_spelling_and_id(manager: Manager) -> None:
    response = await manager.client.post(
        "/api/members", json={"_id": "legacy", "maxProduciton": 800}
    )
    assert response.status_code == 201
    assert response.json()["id"] == "legacy"
    assert response.json()["maxProduction"] == 800


async def test_create_takes_every_setting(manager: Manager) -> None:
    payload = make_plant(
        ratio=0.7,
        status=True,
        buffer={"capacity": 100, "maxOutput": 20, "maxCharge": 10, "current": 40},
        buffer_ratio=0.1,
        startup_seconds=30,
        ramp_per_second=0.02,
        min_load=0.3,
        efficiency=0.45,
    )
    plant = (await manager.client.post("/api/members", json=payload)).json()
    assert plant["buffer"] == {"capacity": 100, "maxOutput": 20, "maxCharge": 10, "current": 40}
    assert (plant["ratio"], plant["status"], plant["buffer_ratio"]) == (0.7, True, 0.1)
    assert (plant["startup_seconds"], plant["ramp_per_second"]) == (30, 0.02)
    assert (plant["min_load"], plant["efficiency"]) == (0.3, 0.45)
    assert plant["marginal_cost_sek_per_kwh"] == pytest.approx(
        (0.13 + 0.88 * 0.34056) / 0.45 + 0.04, rel=1e-3
    )


async def test_create_of_a_list_answers_the_list_in_body(manager: Manager) -> None:
    payload = [make_plant(id="a"), make_plant(id="b")]
    response = await manager.client.post("/api/members", json=payload)
    assert response.status_code == 201
    assert [plant["id"] for plant in response.json()["body"]] == ["a", "b"]


async def test_create_accepts_the_original_body_wrapper(manager: Manager) -> None:
    payload = {"body": [{"_id": "a", "maxProduciton": 500}]}
    response = await manager.client.post("/api/members", json=payload)
    assert response.status_code == 201
    assert response.json()["body"][0]["id"] == "a"


async def test_create_of_a_list_is_all_or_nothing(manager: Manager) -> None:
    payload = [make_plant(id="a"), make_plant(id="b", maxProduction=-5)]
    response = await manager.client.post("/api/members", json=payload)
    assert response.status_code == 422
    assert fields_named(response) == {"1.maxProduction"}
    assert (await manager.client.get("/api/members")).json() == {"body": []}


async def test_create_with_an_existing_id_is_409(manager: Manager) -> None:
    await manager.create(id="a")
    response = await manager.client.post("/api/members", json=make_plant(id="a"))
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_create_of_a_list_with_one_existing_id_creates_none(manager: Manager) -> None:
    await manager.create(id="a")
    payload = [make_plant(id="b"), make_plant(id="a")]
    response = await manager.client.post("/api/members", json=payload)
    assert response.status_code == 409
    assert (await manager.client.get("/api/members/b")).status_code == 404


async def test_create_with_an_id_given_twice_is_409(manager: Manager) -> None:
    payload = [make_plant(id="a"), make_plant(id="a")]
    response = await manager.client.post("/api/members", json=payload)
    assert response.status_code == 409
    assert (await manager.client.get("/api/members")).json() == {"body": []}


@pytest.mark.parametrize("max_production", [0, -1, "NaN", "Infinity", 1e300, "lots", None])
async def test_create_refuses_a_bad_max_production(manager: Manager, max_production: Any) -> None:
    response = await manager.client.post(
        "/api/members", json=make_plant(maxProduction=max_production)
    )
    assert response.status_code == 422
    assert fields_named(response) == {"maxProduction"}


async def test_create_refuses_a_missing_max_production(manager: Manager) -> None:
    response = await manager.client.post("/api/members", json={"id": "a", "ratio": 0.5})
    assert response.status_code == 422
    assert fields_named(response) == {"maxProduction"}


async def test_create_refuses_a_nan_literal(manager: Manager) -> None:
    response = await manager.client.post(
        "/api/members",
        content=b'{"maxProduction": NaN}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ratio", 1.2),
        ("ratio", -0.1),
        ("buffer_ratio", 1.5),
        ("min_load", 2),
        ("startup_seconds", -1),
        ("ramp_per_second", 0),
        ("ramp_per_second", 1.5),
        ("efficiency", 0),
        ("efficiency", 1e-300),
        ("efficiency", 1.1),
        ("status", "maybe"),
        ("id", "has space"),
        ("id", "x" * 65),
        ("id", ""),
    ],
)
async def test_create_refuses_an_out_of_range_field(
    manager: Manager, field: str, value: Any
) -> None:
    response = await manager.client.post("/api/members", json=make_plant(**{field: value}))
    assert response.status_code == 422
    assert fields_named(response) == {field}
    assert (await manager.client.get("/api/members")).json() == {"body": []}


async def test_create_refuses_a_buffer_holding_more_than_its_capacity(manager: Manager) -> None:
    buffer = {"capacity": 10, "maxOutput": 5, "maxCharge": 5, "current": 11}
    response = await manager.client.post("/api/members", json=make_plant(buffer=buffer))
    assert response.status_code == 422
    assert fields_named(response) == {"buffer"}


@pytest.mark.parametrize("field", ["capacity", "maxOutput", "maxCharge", "current"])
@pytest.mark.parametrize("value", [-1, "NaN", 1e300])
async def test_create_refuses_a_bad_buffer_figure(manager: Manager, field: str, value: Any) -> None:
    buffer = {"capacity": 10, "maxOutput": 5, "maxCharge": 5, "current": 1, field: value}
    response = await manager.client.post("/api/members", json=make_plant(buffer=buffer))
    assert response.status_code == 422
    assert f"buffer.{field}" in fields_named(response)


@pytest.mark.parametrize("missing", ["capacity", "maxOutput", "maxCharge"])
async def test_create_refuses_an_incomplete_buffer(manager: Manager, missing: str) -> None:
    buffer = {"capacity": 10, "maxOutput": 5, "maxCharge": 5}
    del buffer[missing]
    response = await manager.client.post("/api/members", json=make_plant(buffer=buffer))
    assert response.status_code == 422
    assert fields_named(response) == {f"buffer.{missing}"}


async def test_create_refuses_malformed_json(manager: Manager) -> None:
    response = await manager.client.post(
        "/api/members", content=b'{"maxProduction": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


@pytest.mark.parametrize("payload", [[], {"body": []}, 42, "plant", [1]])
async def test_create_refuses_a_payload_without_plants(manager: Manager, payload: Any) -> None:
    response = await manager.client.post("/api/members", json=payload)
    assert response.status_code == 422


async def test_create_writes_the_plant_through_with_its_name(manager: Manager) -> None:
    await manager.create(id="a")
    stored = await manager.app.state.runtime.storage.get(COLLECTION, "a")
    assert stored["name"] == "default"
    assert stored["max_production_kw"] == 1000


# -- GET and DELETE /api/members/{id} --------------------------------------------------------


async def test_get_member_answers_the_plant(manager: Manager) -> None:
    await manager.create(id="a", maxProduction=700)
    plant = await manager.plant("a")
    assert (plant["id"], plant["maxProduction"], plant["state"]) == ("a", 700, "stopped")


async def test_delete_removes_the_plant_and_its_document(manager: Manager) -> None:
    await manager.create(id="a")
    await manager.create(id="b")
    response = await manager.client.delete("/api/members/a")
    assert response.status_code == 204
    assert (await manager.client.get("/api/members/a")).status_code == 404
    assert [plant["id"] for plant in (await manager.client.get("/api/members")).json()["body"]] == [
        "b"
    ]
    assert await manager.app.state.runtime.storage.get(COLLECTION, "a") is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/members/nope", None),
        ("DELETE", "/api/members/nope", None),
        ("GET", "/api/control/nope", None),
        ("POST", "/api/control/nope", {"ratio": 0.5}),
        ("PUT", "/api/control/nope", {"ratio": 0.5}),
    ],
)
async def test_an_unknown_id_is_404(
    manager: Manager, method: str, path: str, body: dict[str, Any] | None
) -> None:
    await manager.create(id="a")
    response = await manager.client.request(method, path, json=body)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- /api/control/{id} -----------------------------------------------------------------------


async def test_get_control_answers_ratio_status_and_buffer_ratio(manager: Manager) -> None:
    await manager.create(id="a", ratio=0.6, status=True, buffer_ratio=0.1)
    response = await manager.client.get("/api/control/a")
    assert response.status_code == 200
    assert response.json() == {"ratio": 0.6, "status": True, "buffer_ratio": 0.1}


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_control_changes_only_what_is_given(manager: Manager, method: str) -> None:
    await manager.create(id="a", ratio=0.6, buffer_ratio=0.1)
    response = await manager.client.request(method, "/api/control/a", json={"ratio": 0.9})
    assert response.status_code == 200
    assert response.json() == {"ratio": 0.9, "status": False, "buffer_ratio": 0.1}
    assert (await manager.plant("a"))["ratio"] == 0.9


async def test_control_accepts_the_original_body_wrapper(manager: Manager) -> None:
    await manager.create(id="a")
    response = await manager.client.post("/api/control/a", json={"body": {"status": True}})
    assert response.status_code == 200
    assert response.json()["status"] is True


async def test_control_is_written_through(manager: Manager) -> None:
    await manager.create(id="a")
    await manager.client.put("/api/control/a", json={"status": True, "buffer_ratio": 0.2})
    stored = await manager.app.state.runtime.storage.get(COLLECTION, "a")
    assert (stored["on"], stored["buffer_ratio"]) == (True, 0.2)


async def test_a_start_command_takes_effect_at_the_next_tick(manager: Manager) -> None:
    await manager.create(id="a")
    await manager.client.post("/api/control/a", json={"status": True})
    assert (await manager.plant("a"))["state"] == "stopped"
    await manager.tick(1)
    assert (await manager.plant("a"))["state"] == "starting"


@pytest.mark.parametrize(
    "payload",
    [{}, {"body": {}}, {"ratio": None}, {"unknown": 1}],
)
async def test_an_empty_control_is_422(manager: Manager, payload: Any) -> None:
    await manager.create(id="a")
    response = await manager.client.post("/api/control/a", json=payload)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ratio": 1.2}, "ratio"),
        ({"ratio": "NaN"}, "ratio"),
        ({"buffer_ratio": -0.5}, "buffer_ratio"),
        ({"status": "perhaps"}, "status"),
    ],
)
async def test_a_bad_control_is_422_and_changes_nothing(
    manager: Manager, payload: dict[str, Any], field: str
) -> None:
    await manager.create(id="a", ratio=0.5)
    response = await manager.client.put("/api/control/a", json={"status": True, **payload})
    assert response.status_code == 422
    assert field in fields_named(response)
    assert (await manager.client.get("/api/control/a")).json()["status"] is False


async def test_control_refuses_malformed_json(manager: Manager) -> None:
    await manager.create(id="a")
    response = await manager.client.post(
        "/api/control/a", content=b"{ratio", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


# -- GET /api/stream -------------------------------------------------------------------------


async def test_stream_sends_every_plant_after_a_tick(manager: Manager) -> None:
    await manager.create(id="a")
    await manager.create(id="b")
    await manager.tick(1)
    broadcaster = manager.service.broadcaster
    request = asyncio.create_task(manager.client.get("/api/stream"))
    for _ in range(1000):
        if broadcaster.listeners:
            break
        await asyncio.sleep(0)
    broadcaster.close()  # ends the stream, so the in-process client gets the whole response
    response = await request
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.splitlines()
    assert "event: plants" in lines
    data = json.loads(next(line for line in lines if line.startswith("data: "))[6:])
    assert [plant["id"] for plant in data["plants"]] == ["a", "b"]
    assert data["time"].startswith("2026-01-15T12:00:01")


# -- health and documentation ----------------------------------------------------------------


async def test_health_reports_the_tick_loop(manager: Manager) -> None:
    response = await manager.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["service"] == "manager"
    assert response.json()["tick"]["ticks"] == 1


async def test_openapi_documents_every_route(manager: Manager) -> None:
    paths = (await manager.client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/members"]) == {"get", "post"}
    assert set(paths["/api/members/{plant_id}"]) == {"get", "delete"}
    assert set(paths["/api/control/{plant_id}"]) == {"get", "post", "put"}
    assert "get" in paths["/api/stream"]
