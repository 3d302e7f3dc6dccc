"""The prosumer tick against a fake weather service and two fake simulation cells."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from services.common.contracts import ProsumerPush, ProsumerPushAnswer
from services.common.storage.columns import load_columns
from services.prosumer.repository import STATE
from services.prosumer.schemas import MemberCreate
from tests.prosumer.fakes import (
    CELL_URLS,
    WEATHER_URL,
    Harness,
    Peers,
    make_battery,
    make_prosumer,
    running_prosumer,
)

EMPTY_BATTERY = [make_battery(current=0.0)]


def answer(sold_fraction: float = 1.0, blackout: list[str] | None = None) -> ProsumerPushAnswer:
    return ProsumerPushAnswer(
        time=None, sold_fraction=sold_fraction, blackout=blackout or [], price_sek_per_kwh=0.8
    )


async def windy_house(prosumer: Harness, **overrides: object) -> None:
    """A house whose turbine produces more than it uses, after one warm-up tick.

    The warm-up tick lets the cells answer once, since their answer counts one tick late.
    """
    prosumer.peers.weather.wind_speed_ms = 10.0
    await prosumer.create(id="house", annual_kwh=1000.0, batteries=EMPTY_BATTERY, **overrides)
    await prosumer.tick()


# -- physics through the service -----------------------------------------------------------------


async def test_production_follows_the_wind(prosumer: Harness) -> None:
    await prosumer.create(id="house")
    production = []
    for wind_speed_ms in (0.0, 5.0, 9.0):
        prosumer.peers.weather.wind_speed_ms = wind_speed_ms
        await prosumer.tick()
        member = await prosumer.member("house")
        assert member["wind_speed_ms"] == wind_speed_ms
        production.append(member["production_kw"])

    assert production[0] == 0.0 < production[1] < production[2] <= 5.0
    assert prosumer.peers.cell.last("house").production_kw == pytest.approx(production[2])


async def test_switched_off_turbines_produce_nothing(prosumer: Harness) -> None:
    await prosumer.create(id="house", status=False)

    await prosumer.tick()

    assert (await prosumer.member("house"))["production_kw"] == 0.0


async def test_input_ratio_moves_surplus_between_battery_and_market(prosumer: Harness) -> None:
    await windy_house(prosumer, input_ratio=0.0)
    await prosumer.tick()
    selling = await prosumer.member("house")

    await prosumer.client.put("/api/control/house", json={"input_ratio": 1.0})
    await prosumer.tick()
    storing = await prosumer.member("house")

    assert selling["battery_charge_kw"] == 0.0 and selling["sold_kw"] > 0.0
    assert storing["battery_charge_kw"] > 0.0 and storing["sold_kw"] == 0.0
    assert prosumer.peers.cell.last("house").offered_kw == 0.0


async def test_output_ratio_takes_a_deficit_from_the_battery(prosumer: Harness) -> None:
    prosumer.peers.weather.wind_speed_ms = 0.0
    await prosumer.create(id="house", output_ratio=1.0)

    await prosumer.tick()

    member = await prosumer.member("house")
    assert member["battery_discharge_kw"] == pytest.approx(member["load_kw"])
    assert member["bought_kw"] == 0.0 and member["source"] == "battery"


async def test_sales_count_one_tick_after_the_push(prosumer: Harness) -> None:
    prosumer.peers.weather.wind_speed_ms = 10.0
    await prosumer.create(id="house", input_ratio=0.0, annual_kwh=1000.0)

    await prosumer.tick()
    first = await prosumer.member("house")
    await prosumer.tick()
    second = await prosumer.member("house")

    # No cell had answered before the first push, so nothing counted as sold yet.
    assert first["sold_kw"] == 0.0 and first["curtailed_kw"] > 0.0
    assert second["sold_kw"] == pytest.approx(prosumer.peers.cell.last("house").offered_kw)
    assert second["price_sek_per_kwh"] == 0.8


async def test_a_blocked_member_sells_nothing_until_the_block_ends(prosumer: Harness) -> None:
    await windy_house(prosumer, input_ratio=0.0)
    await prosumer.client.post("/api/members/house/block", json={"seconds": 30})

    await prosumer.tick()
    blocked = await prosumer.member("house")
    pushed_blocked = prosumer.peers.cell.last("house")
    prosumer.wall_s += 31
    await prosumer.tick()
    released = await prosumer.member("house")

    assert blocked["sold_kw"] == 0.0 and blocked["battery_charge_kw"] > 0.0
    assert pushed_blocked.sell_blocked and pushed_blocked.offered_kw == 0.0
    assert released["sold_kw"] > 0.0 and not prosumer.peers.cell.last("house").sell_blocked


async def test_lifting_a_block_lets_the_member_sell_at_once(prosumer: Harness) -> None:
    await windy_house(prosumer, input_ratio=0.0)
    await prosumer.client.post("/api/members/house/block", json={"seconds": 100})
    await prosumer.client.delete("/api/members/house/block")

    await prosumer.tick()

    assert (await prosumer.member("house"))["sold_kw"] > 0.0


async def test_blackout_from_the_cells_answer_shows_on_the_next_tick(prosumer: Harness) -> None:
    prosumer.peers.weather.wind_speed_ms = 0.0
    await prosumer.create(id="house", batteries=[])
    await prosumer.create(id="neighbour", batteries=[])
    prosumer.peers.cell.answer = answer(blackout=["house", "someone-else"])

    await prosumer.tick()
    before = await prosumer.member("house")
    await prosumer.tick()
    after = await prosumer.member("house")

    assert not before["blackout"] and before["bought_kw"] > 0.0
    assert after["blackout"] and after["bought_kw"] == 0.0 and after["source"] == "none"
    assert not (await prosumer.member("neighbour"))["blackout"]
    assert prosumer.service.totals().blackouts == 1


# -- peers ---------------------------------------------------------------------------------------


async def test_tick_runs_without_weather_using_calm_air(prosumer: Harness) -> None:
    await prosumer.create(id="house")
    prosumer.peers.take_down(WEATHER_URL)

    await prosumer.tick()

    member = await prosumer.member("house")
    assert member["production_kw"] == 0.0 and member["load_kw"] > 0.0
    assert prosumer.service.totals().weather_stale
    assert len(prosumer.peers.cell.pushes) == 1


async def test_tick_keeps_the_last_weather_while_the_service_is_down(prosumer: Harness) -> None:
    await prosumer.create(id="house")
    await prosumer.tick()
    windy = (await prosumer.member("house"))["wind_speed_ms"]

    prosumer.peers.take_down(WEATHER_URL)
    await prosumer.tick()

    assert (await prosumer.member("house"))["wind_speed_ms"] == windy == 8.0
    assert prosumer.service.totals().weather_stale


async def test_a_silent_cell_keeps_its_last_answer(prosumer: Harness) -> None:
    await windy_house(prosumer, input_ratio=0.0)
    cell_a, cell_b = prosumer.peers.cells.values()
    cell_b.answer = answer(sold_fraction=0.5)
    await prosumer.tick()

    prosumer.peers.take_down(CELL_URLS[1])
    cell_b.answer = answer(sold_fraction=0.0)
    await prosumer.tick()
    await prosumer.tick()

    # The answers combine to the lower fraction: 0.5, which cell B last gave.
    member = await prosumer.member("house")
    assert member["sold_kw"] == pytest.approx(cell_a.last("house").offered_kw * 0.5)
    assert len(cell_a.pushes) == 4 and len(cell_b.pushes) == 2


async def test_one_push_per_cell_and_one_weather_request_per_tick(prosumer: Harness) -> None:
    response = await prosumer.client.post(
        "/api/members", json=[make_prosumer(id=f"house-{i}") for i in range(40)]
    )
    assert response.status_code == 201

    for _ in range(3):
        await prosumer.tick()

    for cell in prosumer.peers.cells.values():
        assert len(cell.pushes) == 3
        assert all(len(push.members) == 40 for push in cell.pushes)
    assert len(prosumer.peers.weather.requests) == 3


async def test_nearby_members_share_one_weather_site(prosumer: Harness) -> None:
    await prosumer.create(lat=65.581, lon=22.121)
    await prosumer.create(lat=65.619, lon=22.139)
    await prosumer.create(lat=65.70, lon=22.12)

    await prosumer.tick()

    locations = prosumer.peers.weather.requests[-1].locations
    assert sorted((location.lat, location.lon) for location in locations) == [
        (65.6, 22.1),
        (65.7, 22.1),
    ]


async def test_the_push_names_the_partition_and_carries_every_member(prosumer: Harness) -> None:
    await prosumer.create(id="a")
    await prosumer.create(id="b", batteries=[])

    await prosumer.tick()

    push: ProsumerPush = prosumer.peers.cell.pushes[-1]
    assert push.source == "default"
    assert push.time == prosumer.clock.now()
    assert push.members.id == ["a", "b"]
    assert push.members.capacity_kwh[1] == 0.0


async def test_a_tick_without_time_passing_does_nothing(prosumer: Harness) -> None:
    await prosumer.create(id="house")
    await prosumer.tick()

    await prosumer.service.tick()

    assert len(prosumer.peers.cell.pushes) == 1


async def test_the_first_tick_steps_one_tick_period(prosumer: Harness) -> None:
    prosumer.peers.weather.wind_speed_ms = 10.0
    await prosumer.create(id="house", input_ratio=1.0, annual_kwh=0.0, batteries=EMPTY_BATTERY)

    await prosumer.tick(seconds=1.0)

    member = await prosumer.member("house")
    # tick_seconds is 3600 in these tests: one hour of charging at the charge rate.
    assert member["stored_kwh"] == pytest.approx(member["battery_charge_kw"] * 0.95 * 1.0)


# -- persistence ---------------------------------------------------------------------------------


async def test_restart_restores_members_and_battery_levels(tmp_path: Path) -> None:
    peers = Peers()
    async with running_prosumer(tmp_path, peers) as prosumer:
        await prosumer.create(id="house", input_ratio=1.0, batteries=EMPTY_BATTERY)
        await prosumer.tick()
        await prosumer.tick()
        await prosumer.service.checkpoint()
        before = await prosumer.member("house")

    async with running_prosumer(tmp_path, peers) as restarted:
        after = await restarted.member("house")

    assert before["stored_kwh"] > 0.0
    assert after["stored_kwh"] == pytest.approx(before["stored_kwh"])
    assert after["batteries"] == before["batteries"]
    assert after["input_ratio"] == 1.0


async def test_shutdown_saves_battery_levels(tmp_path: Path) -> None:
    async with running_prosumer(tmp_path) as prosumer:
        await prosumer.create(id="house", input_ratio=1.0, batteries=EMPTY_BATTERY)
        await prosumer.tick()
        stored_kwh = (await prosumer.member("house"))["stored_kwh"]

    async with running_prosumer(tmp_path) as restarted:
        assert (await restarted.member("house"))["stored_kwh"] == pytest.approx(stored_kwh)


async def test_the_tick_checkpoints_when_due(tmp_path: Path) -> None:
    async with running_prosumer(tmp_path, checkpoint_seconds=1e-9) as prosumer:
        await prosumer.create(id="house", input_ratio=1.0, batteries=EMPTY_BATTERY)

        await prosumer.tick()

        state = await load_columns(prosumer.service.runtime.storage, STATE, "default")
        assert state["id"] == ["house"]
        assert state["stored_kwh"][0] == pytest.approx(
            (await prosumer.member("house"))["stored_kwh"]
        )


async def test_a_block_survives_a_restart(tmp_path: Path) -> None:
    async with running_prosumer(tmp_path) as prosumer:
        await prosumer.create(id="house")
        blocked = await prosumer.client.post("/api/members/house/block", json={"seconds": 60})

    async with running_prosumer(tmp_path) as restarted:
        member = await restarted.member("house")

    assert member["blocked_until"] == blocked.json()["blocked_until"] is not None


async def test_deleted_members_stay_deleted_after_a_checkpoint(tmp_path: Path) -> None:
    async with running_prosumer(tmp_path) as prosumer:
        await prosumer.create(id="keep")
        await prosumer.create(id="gone")
        await prosumer.tick()
        await prosumer.client.delete("/api/members/gone")

    async with running_prosumer(tmp_path) as restarted:
        ids = [member["id"] for member in (await restarted.client.get("/api/members")).json()]

    assert ids == ["keep"]


# -- cost ----------------------------------------------------------------------------------------


async def test_ten_thousand_members_serialise_quickly(prosumer: Harness) -> None:
    payload = MemberCreate.model_validate(make_prosumer())
    service = prosumer.service
    await service.create([payload.model_copy(update={"id": f"h{i}"}) for i in range(10_000)])
    fleet, now = service.roster.fleet, prosumer.clock.now()
    sites = service.site_codes.size
    flows = fleet.step(
        now, now.timestamp(), 60.0, np.full(sites, 8.0), np.zeros(sites), service.rng
    )

    started = time.perf_counter()
    body = service._push_body(now, now.timestamp(), flows, flows.curtailed_kw)
    elapsed_s = time.perf_counter() - started

    assert len(ProsumerPush.model_validate_json(body).members) == 10_000
    # About 50 ms on a 2-core machine; the bound leaves room for a busy CI runner.
    assert elapsed_s < 0.5


async def test_a_tick_during_a_control_change_keeps_its_battery_change(prosumer: Harness) -> None:
    await windy_house(prosumer, input_ratio=1.0)
    service = prosumer.service
    before_kwh = (await prosumer.member("house"))["stored_kwh"]
    save = service.repository.save

    async def save_while_a_tick_runs(members: list[tuple[object, float]]) -> None:
        await prosumer.tick(seconds=600.0)
        await save(members)  # type: ignore[arg-type]

    service.repository.save = save_while_a_tick_runs  # type: ignore[method-assign]
    await prosumer.client.put("/api/control/house", json={"output_ratio": 0.1})

    charged_kwh = (await prosumer.member("house"))["battery_charge_kw"] * 0.95 * 600 / 3600
    assert charged_kwh > 0.0
    assert (await prosumer.member("house"))["stored_kwh"] == pytest.approx(before_kwh + charged_kwh)
