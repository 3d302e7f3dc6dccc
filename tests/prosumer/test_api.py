"""Every prosumer route, with good and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.prosumer.repository import COLLECTION
from tests.prosumer.fakes import Harness, make_battery, make_prosumer, read_stream

MEMBER_ROUTES = [
    ("GET", "/api/members/{id}", None),
    ("PUT", "/api/members/{id}", make_prosumer()),
    ("DELETE", "/api/members/{id}", None),
    ("GET", "/api/control/{id}", None),
    ("PUT", "/api/control/{id}", {"input_ratio": 0.3}),
    ("POST", "/api/control/{id}", {"input_ratio": 0.3}),
    ("POST", "/api/members/{id}/block", {"seconds": 30}),
    ("DELETE", "/api/members/{id}/block", None),
]


async def count_members(prosumer: Harness) -> int:
    return len((await prosumer.client.get("/api/members")).json())


# -- create ------------------------------------------------------------------------------------


async def test_create_one_answers_201_with_the_member(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members", json=make_prosumer(id="house-1", turbines=[3, 2.5])
    )

    assert response.status_code == 201
    member = response.json()
    assert member["id"] == "house-1"
    assert member["name"] == "default"
    assert member["turbines"] == [3.0, 2.5]
    assert member["batteries"] == [make_battery(current=5.0)]
    assert member["stored_kwh"] == 5.0 and member["capacity_kwh"] == 10.0
    assert member["source"] == "none" and member["blackout"] is False
    assert member["blocked_until"] is None


async def test_create_without_id_generates_one(prosumer: Harness) -> None:
    member = await prosumer.create()

    assert len(member["id"]) == 32


async def test_create_takes_the_service_location_unless_given(prosumer: Harness) -> None:
    default = await prosumer.create()
    placed = await prosumer.create(lat=65.6, lon=22.0)

    assert (default["lat"], default["lon"]) == (65.584, 22.154)
    assert (placed["lat"], placed["lon"]) == (65.6, 22.0)


async def test_create_a_list_answers_a_list(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members", json=[make_prosumer(id="a"), make_prosumer(id="b")]
    )

    assert response.status_code == 201
    assert [member["id"] for member in response.json()] == ["a", "b"]


async def test_create_accepts_body_wrapper_and_underscore_id(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members", json={"body": [make_prosumer(_id="legacy")]}
    )

    assert response.status_code == 201
    assert response.json()[0]["id"] == "legacy"
    assert (await prosumer.member("legacy"))["id"] == "legacy"


async def test_create_list_is_all_or_nothing(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members", json=[make_prosumer(id="fine"), make_prosumer(input_ratio=1.5)]
    )

    assert response.status_code == 422
    assert "1.input_ratio" in [error["field"] for error in response.json()["detail"]]
    assert await count_members(prosumer) == 0


async def test_create_existing_id_is_409(prosumer: Harness) -> None:
    await prosumer.create(id="taken")

    response = await prosumer.client.post("/api/members", json=make_prosumer(id="taken"))

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_create_list_with_a_taken_id_creates_nothing(prosumer: Harness) -> None:
    await prosumer.create(id="taken")

    response = await prosumer.client.post(
        "/api/members", json=[make_prosumer(id="new"), make_prosumer(id="taken")]
    )

    assert response.status_code == 409
    assert await count_members(prosumer) == 1


async def test_create_list_repeating_an_id_is_409(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members", json=[make_prosumer(id="twice"), make_prosumer(id="twice")]
    )

    assert response.status_code == 409
    assert await count_members(prosumer) == 0


async def test_create_empty_list_is_422(prosumer: Harness) -> None:
    response = await prosumer.client.post("/api/members", json=[])

    assert response.status_code == 422


BAD_MEMBERS = {
    "input ratio above 1": ({"input_ratio": 1.5}, "input_ratio"),
    "input ratio below 0": ({"input_ratio": -0.1}, "input_ratio"),
    "output ratio above 1": ({"output_ratio": 1.5}, "output_ratio"),
    "output ratio below 0": ({"output_ratio": -0.1}, "output_ratio"),
    "negative capacity": ({"batteries": [make_battery(capacity=-1)]}, "batteries.0.capacity"),
    "negative max output": ({"batteries": [make_battery(maxOutput=-1)]}, "batteries.0.maxOutput"),
    "current above capacity": ({"batteries": [make_battery(current=11)]}, "batteries.0"),
    "negative current": ({"batteries": [make_battery(current=-1)]}, "batteries.0.current"),
    "battery without capacity": (
        {"batteries": [{"maxOutput": 1, "maxCharge": 1}]},
        "batteries.0.capacity",
    ),
    "turbine as text": ({"turbines": ["big"]}, "turbines.0"),
    "turbine as object": ({"turbines": [{"maxPower": 3}]}, "turbines.0"),
    "turbine as boolean": ({"turbines": [True]}, "turbines.0"),
    "negative turbine": ({"turbines": [-1]}, "turbines.0"),
    "no turbines": ({"turbines": []}, "turbines"),
    "turbines not a list": ({"turbines": 5}, "turbines"),
    "status as text": ({"status": "on"}, "status"),
    "bad id": ({"id": "has space"}, "id"),
    "hub height not a tower": ({"hub_height_m": 20}, "hub_height_m"),
    "latitude out of range": ({"lat": 91}, "lat"),
    "negative annual use": ({"annual_kwh": -5}, "annual_kwh"),
}


@pytest.mark.parametrize(("overrides", "field"), BAD_MEMBERS.values(), ids=BAD_MEMBERS.keys())
async def test_create_bad_member_is_422_naming_the_field(
    prosumer: Harness, overrides: dict[str, Any], field: str
) -> None:
    response = await prosumer.client.post("/api/members", json=make_prosumer(**overrides))

    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["detail"]]
    assert await count_members(prosumer) == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_create_non_finite_capacity_is_422(prosumer: Harness, number: str) -> None:
    battery = f'{{"capacity": {number}, "maxOutput": 5, "maxCharge": 5}}'
    body = f'{{"turbines": [5], "batteries": [{battery}]}}'

    response = await prosumer.client.post(
        "/api/members", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert await count_members(prosumer) == 0


async def test_create_non_finite_turbine_is_422(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members",
        content='{"turbines": [NaN], "batteries": []}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422


async def test_create_missing_turbines_is_422(prosumer: Harness) -> None:
    response = await prosumer.client.post("/api/members", json={"batteries": []})

    assert response.status_code == 422
    assert "turbines" in [error["field"] for error in response.json()["detail"]]


async def test_create_not_an_object_is_422(prosumer: Harness) -> None:
    response = await prosumer.client.post("/api/members", json="a house")

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/members"),
        ("PUT", "/api/members/house"),
        ("PUT", "/api/control/house"),
        ("POST", "/api/control/house"),
        ("POST", "/api/members/house/block"),
    ],
)
async def test_malformed_json_is_422(prosumer: Harness, method: str, path: str) -> None:
    await prosumer.create(id="house")

    response = await prosumer.client.request(
        method, path, content="{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


# -- read ---------------------------------------------------------------------------------------


async def test_list_returns_every_member(prosumer: Harness) -> None:
    await prosumer.create(id="a")
    await prosumer.create(id="b")

    response = await prosumer.client.get("/api/members")

    assert response.status_code == 200
    assert sorted(member["id"] for member in response.json()) == ["a", "b"]


async def test_get_returns_the_member(prosumer: Harness) -> None:
    await prosumer.create(id="house", output_ratio=0.25)

    member = await prosumer.member("house")

    assert member["output_ratio"] == 0.25
    assert member["turbines"] == [5.0]


@pytest.mark.parametrize(("method", "path", "body"), MEMBER_ROUTES)
async def test_unknown_id_is_404(
    prosumer: Harness, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await prosumer.client.request(method, path.format(id="nobody"), json=body)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- replace and delete -----------------------------------------------------------------------


async def test_put_replaces_turbines_and_batteries(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    response = await prosumer.client.put(
        "/api/members/house",
        json={"turbines": [1, 2], "batteries": [make_battery(), make_battery(capacity=20)]},
    )

    assert response.status_code == 200
    member = response.json()
    assert member["turbines"] == [1.0, 2.0]
    assert member["capacity_kwh"] == 30.0
    # The 5 kWh held before is kept and shown split by capacity.
    assert member["stored_kwh"] == 5.0
    assert [battery["current"] for battery in member["batteries"]] == pytest.approx([5 / 3, 10 / 3])


async def test_put_clips_stored_energy_to_the_new_capacity(prosumer: Harness) -> None:
    await prosumer.create(id="house", batteries=[make_battery(current=9.0)])

    member = (
        await prosumer.client.put(
            "/api/members/house", json={"turbines": [5], "batteries": [make_battery(capacity=4)]}
        )
    ).json()

    assert member["stored_kwh"] == 4.0


async def test_put_with_current_sets_stored_energy(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    member = (
        await prosumer.client.put(
            "/api/members/house", json={"turbines": [5], "batteries": [make_battery(current=2)]}
        )
    ).json()

    assert member["stored_kwh"] == 2.0


async def test_put_keeps_controls_it_does_not_mention(prosumer: Harness) -> None:
    await prosumer.create(id="house", input_ratio=0.9)

    member = (
        await prosumer.client.put(
            "/api/members/house", json={"body": {"turbines": [5], "batteries": []}}
        )
    ).json()

    assert member["input_ratio"] == 0.9
    assert member["batteries"] == [] and member["stored_kwh"] == 0.0


@pytest.mark.parametrize(
    "body",
    [
        {"turbines": ["x"], "batteries": []},
        {"turbines": [5]},
        {"turbines": [5], "batteries": [make_battery(capacity=-1)]},
        {"turbines": [5], "batteries": [make_battery(current=50)]},
        {"turbines": [5], "batteries": [], "input_ratio": 1.5},
    ],
)
async def test_put_bad_input_is_422_and_changes_nothing(
    prosumer: Harness, body: dict[str, Any]
) -> None:
    before = await prosumer.create(id="house")

    response = await prosumer.client.put("/api/members/house", json=body)

    assert response.status_code == 422
    assert await prosumer.member("house") == before


async def test_delete_removes_the_member_from_service_and_storage(prosumer: Harness) -> None:
    await prosumer.create(id="keep")
    await prosumer.create(id="gone")

    response = await prosumer.client.delete("/api/members/gone")

    assert response.status_code == 200
    assert response.json()["id"] == "gone"
    assert (await prosumer.client.get("/api/members/gone")).status_code == 404
    assert await prosumer.service.runtime.storage.get(COLLECTION, "gone") is None
    assert (await prosumer.member("keep"))["id"] == "keep"


# -- control ------------------------------------------------------------------------------------


async def test_get_control_returns_ratios_and_status(prosumer: Harness) -> None:
    await prosumer.create(id="house", input_ratio=0.2, output_ratio=0.7, status=False)

    response = await prosumer.client.get("/api/control/house")

    assert response.status_code == 200
    assert response.json() == {"input_ratio": 0.2, "output_ratio": 0.7, "status": False}


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_control_update_changes_only_what_is_given(prosumer: Harness, method: str) -> None:
    await prosumer.create(id="house", input_ratio=0.2, output_ratio=0.7)

    response = await prosumer.client.request(
        method, "/api/control/house", json={"output_ratio": 0.1}
    )

    assert response.status_code == 200
    assert response.json() == {"input_ratio": 0.2, "output_ratio": 0.1, "status": True}


async def test_control_update_is_written_through(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    await prosumer.client.put("/api/control/house", json={"status": False, "input_ratio": 1})

    stored = await prosumer.service.runtime.storage.get(COLLECTION, "house")
    assert stored is not None
    assert (stored["status"], stored["input_ratio"]) == (False, 1.0)


BAD_CONTROLS = {
    "input ratio above 1": {"input_ratio": 1.5},
    "input ratio below 0": {"input_ratio": -0.1},
    "output ratio above 1": {"output_ratio": 1.5},
    "output ratio below 0": {"output_ratio": -0.1},
    "status as text": {"status": "maybe"},
    "ratio as text": {"input_ratio": "half"},
    "null ratio": {"input_ratio": None},
    "empty": {},
    "nothing known": {"ratio": 0.5},
}


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("body", BAD_CONTROLS.values(), ids=BAD_CONTROLS.keys())
async def test_control_bad_input_is_422_and_changes_nothing(
    prosumer: Harness, method: str, body: dict[str, Any]
) -> None:
    await prosumer.create(id="house", input_ratio=0.4)

    response = await prosumer.client.request(method, "/api/control/house", json=body)

    assert response.status_code == 422
    assert (await prosumer.client.get("/api/control/house")).json()["input_ratio"] == 0.4


async def test_control_without_body_is_422(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    response = await prosumer.client.put("/api/control/house")

    assert response.status_code == 422


# -- block --------------------------------------------------------------------------------------


async def test_block_sets_blocked_until_seconds_ahead(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    response = await prosumer.client.post("/api/members/house/block", json={"seconds": 30})

    assert response.status_code == 200
    blocked_until = datetime.fromisoformat(response.json()["blocked_until"])
    assert blocked_until == datetime.fromtimestamp(prosumer.wall_s + 30, UTC)


async def test_block_is_written_through(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    await prosumer.client.post("/api/members/house/block", json={"seconds": 10})

    stored = await prosumer.service.runtime.storage.get(COLLECTION, "house")
    assert stored is not None and stored["blocked_until"] == prosumer.wall_s + 10


@pytest.mark.parametrize("body", [{"seconds": 5}, {"seconds": 101}, {"seconds": "30"}, {}])
async def test_block_outside_10_to_100_seconds_is_422(
    prosumer: Harness, body: dict[str, Any]
) -> None:
    await prosumer.create(id="house")

    response = await prosumer.client.post("/api/members/house/block", json=body)

    assert response.status_code == 422
    assert (await prosumer.member("house"))["blocked_until"] is None


async def test_unblock_lifts_the_block(prosumer: Harness) -> None:
    await prosumer.create(id="house")
    await prosumer.client.post("/api/members/house/block", json={"seconds": 100})

    response = await prosumer.client.delete("/api/members/house/block")

    assert response.status_code == 200
    assert response.json()["blocked_until"] is None


async def test_block_ends_by_itself(prosumer: Harness) -> None:
    await prosumer.create(id="house")
    await prosumer.client.post("/api/members/house/block", json={"seconds": 10})

    prosumer.wall_s += 11

    assert (await prosumer.member("house"))["blocked_until"] is None


# -- stream -------------------------------------------------------------------------------------


async def test_stream_without_id_sends_totals(prosumer: Harness) -> None:
    await prosumer.create(id="a")
    await prosumer.create(id="b")

    events = await read_stream(prosumer)

    assert len(events) == 1
    assert events[0]["members"] == 2
    assert events[0]["production_kw"] > 0
    assert "id" not in events[0]


async def test_stream_with_id_sends_that_member(prosumer: Harness) -> None:
    await prosumer.create(id="a")
    await prosumer.create(id="b")

    events = await read_stream(prosumer, "?id=b")

    assert [event["id"] for event in events] == ["b"]
    assert events[0]["production_kw"] > 0


async def test_stream_of_unknown_member_is_404(prosumer: Harness) -> None:
    response = await prosumer.client.get("/api/stream?id=nobody")

    assert response.status_code == 404


# -- documentation ------------------------------------------------------------------------------


async def test_openapi_documents_every_route(prosumer: Harness) -> None:
    response = await prosumer.client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/members"]) == {"get", "post"}
    assert set(paths["/api/members/{member_id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/control/{member_id}"]) == {"get", "put", "post"}
    assert set(paths["/api/members/{member_id}/block"]) == {"post", "delete"}
    assert "get" in paths["/api/stream"]
    body = paths["/api/members"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "turbines" in body["anyOf"][0]["properties"]


async def test_members_are_tagged_with_the_name_partition(prosumer: Harness) -> None:
    await prosumer.create(id="house")

    storage = prosumer.service.runtime.storage
    documents = await storage.list(COLLECTION, where={"name": "default"})

    assert [document["id"] for document in documents] == ["house"]
    assert await storage.list(COLLECTION, where={"name": "other"}) == []
