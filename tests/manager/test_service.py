"""The manager's tick: plant states, production, carbon, buffer, pushes, checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from services.common.clock import FakeClock
from services.common.runtime import Every
from services.manager.repository import COLLECTION
from services.physics.plant import CO2_KG_PER_KWH_FUEL
from tests.manager.conftest import Manager, make_settings, running_manager, unreachable

EMISSION_KG_PER_KWH = CO2_KG_PER_KWH_FUEL / 0.40
BUFFER_EFFICIENCY = 0.95


async def test_a_started_plant_is_starting_for_its_startup_time_then_ramps_to_its_set_point(
    manager: Manager,
) -> None:
    await manager.create(status=True, startup_seconds=10, ramp_per_second=0.1, ratio=0.5)
    seen = []
    for _ in range(5):
        await manager.tick(4)
        plant = await manager.plant()
        seen.append((plant["state"], plant["current"]))
    # 100 kW/s ramp: 400 kW in the 4 s tick that ends the start-up, then the 500 kW set-point.
    assert seen == [
        ("starting", 0),
        ("starting", 0),
        ("running", 400),
        ("running", 500),
        ("running", 500),
    ]


async def test_a_stopped_plant_ramps_down_to_zero_then_is_stopped(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0, ramp_per_second=0.1)
    await manager.tick(10)
    assert (await manager.plant())["current"] == 500
    await manager.client.post("/api/control/p1", json={"status": False})
    seen = []
    for _ in range(3):
        await manager.tick(2)
        plant = await manager.plant()
        seen.append((plant["state"], plant["current"]))
    assert seen == [("stopping", 300), ("stopping", 100), ("stopped", 0)]


async def test_a_plant_never_runs_below_its_minimum_load(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0, ratio=0.1, min_load=0.3)
    await manager.tick(60)
    assert (await manager.plant())["current"] == pytest.approx(300)


async def test_co2_total_grows_with_production(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0, ramp_per_second=0.1)
    await manager.tick(10)
    await manager.tick(3600)
    plant = await manager.plant()
    assert plant["co2_kg_per_h"] == pytest.approx(500 * EMISSION_KG_PER_KWH)
    expected_kg = 500 * EMISSION_KG_PER_KWH * (3600 + 10) / 3600
    assert plant["co2_total_kg"] == pytest.approx(expected_kg)


async def test_a_stopped_plant_emits_nothing(manager: Manager) -> None:
    await manager.create()
    await manager.tick(3600)
    assert (await manager.plant())["co2_total_kg"] == 0


async def test_the_buffer_fills_by_buffer_ratio_while_running(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0, buffer_ratio=0.05)
    await manager.tick(10)
    stored_kwh = (await manager.plant())["buffer"]["current"]
    await manager.tick(3600)
    plant = await manager.plant()
    assert plant["buffer_charge_kw"] == pytest.approx(25)
    assert plant["offered_kw"] == pytest.approx(475)
    assert plant["buffer"]["current"] - stored_kwh == pytest.approx(25 * BUFFER_EFFICIENCY)


async def test_a_stopped_plant_delivers_what_the_cell_accepted_from_its_buffer(
    manager: Manager,
) -> None:
    buffer = {"capacity": 500, "maxOutput": 250, "maxCharge": 250, "current": 100}
    await manager.create(buffer=buffer)
    manager.cell.accept("p1", buffer_kw=120)
    await manager.tick(60)
    plant = await manager.plant()
    # The cell's answer arrives with this push; it is delivered at the next tick.
    assert (plant["buffer_discharge_kw"], plant["buffer"]["current"]) == (0, 100)
    assert plant["buffer_offer_kw"] == 250
    await manager.tick(60)
    plant = await manager.plant()
    assert plant["buffer_discharge_kw"] == 120
    assert plant["buffer"]["current"] == pytest.approx(100 - 120 / 60 / BUFFER_EFFICIENCY)


async def test_buffer_discharge_is_clipped_to_what_the_buffer_holds(manager: Manager) -> None:
    buffer = {"capacity": 500, "maxOutput": 250, "maxCharge": 250, "current": 1}
    await manager.create(buffer=buffer)
    manager.cell.accept("p1", buffer_kw=250)
    await manager.tick(60)
    await manager.tick(60)
    plant = await manager.plant()
    assert plant["buffer_discharge_kw"] == pytest.approx(1 * BUFFER_EFFICIENCY * 60)
    assert plant["buffer"]["current"] == pytest.approx(0)


async def test_accepted_kw_is_what_the_cell_sold_of_the_plant(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0)
    manager.cell.accept("p1", plant_kw=300)
    await manager.tick(10)
    plant = await manager.plant()
    assert (plant["accepted_kw"], plant["stale"]) == (300, False)


async def test_each_tick_pushes_every_plant_once_to_each_cell(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, simulation_urls=["http://cell-a", "http://cell-b"])
    async with running_manager(settings, clock) as manager:
        await manager.create(id="a")
        await manager.create(id="b")
        await manager.tick(1)
        await manager.tick(1)
    hosts = [host for host, _ in manager.cell.pushes]
    assert sorted(hosts) == ["cell-a", "cell-a", "cell-b", "cell-b"]
    assert all([m.id for m in push.members] == ["a", "b"] for _, push in manager.cell.pushes)


async def test_buffer_sales_of_several_cells_add_up(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, simulation_urls=["http://cell-a", "http://cell-b"])
    async with running_manager(settings, clock) as manager:
        buffer = {"capacity": 500, "maxOutput": 250, "maxCharge": 250, "current": 100}
        await manager.create(buffer=buffer)
        manager.cell.accept("p1", buffer_kw=40)
        await manager.tick(60)
        await manager.tick(60)
        assert (await manager.plant())["buffer_discharge_kw"] == 80


async def test_the_push_carries_the_plant_state(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0, buffer_ratio=0.1)
    now = manager.clock.advance(10)
    await manager.service.tick()
    [(_, push)] = manager.cell.pushes
    assert (push.source, push.time) == ("default", now)
    [member] = push.members
    assert (member.id, member.state, member.status, member.ratio) == ("p1", "running", True, 0.5)
    assert (member.production_kw, member.max_production_kw) == (500, 1000)
    assert (member.offered_kw, member.buffer_charge_kw) == pytest.approx((450, 50))
    assert member.co2_kg_per_h == pytest.approx(500 * EMISSION_KG_PER_KWH)
    assert member.marginal_cost_sek_per_kwh == pytest.approx(1.114, abs=1e-3)


async def test_a_deleted_plant_is_no_longer_pushed(manager: Manager) -> None:
    await manager.create(id="a")
    await manager.create(id="b")
    await manager.client.delete("/api/members/a")
    await manager.tick(1)
    assert [member.id for member in manager.cell.pushes[0][1].members] == ["b"]


async def test_a_tick_without_simulated_time_does_nothing(manager: Manager) -> None:
    await manager.create(status=True)
    await manager.service.tick()
    assert manager.cell.pushes == []
    assert (await manager.plant())["state"] == "stopped"


async def test_a_long_stall_advances_at_most_ten_ticks(tmp_path: Path, clock: FakeClock) -> None:
    # tick_seconds 3600 x speed 0.001: a nominal tick is 3.6 simulated seconds.
    async with running_manager(make_settings(tmp_path, speed=0.001), clock) as manager:
        await manager.create(status=True, startup_seconds=0, ramp_per_second=1)
        await manager.tick(1000)
        plant = await manager.plant()
    assert plant["co2_total_kg"] == pytest.approx(500 * EMISSION_KG_PER_KWH * 36 / 3600)


def refusing_with(status: int, content: bytes) -> httpx.AsyncBaseTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=content))


@pytest.mark.parametrize(
    "transport",
    [
        unreachable,
        lambda: refusing_with(503, b'{"error": "unavailable"}'),
        lambda: refusing_with(200, b"not json"),
        lambda: refusing_with(200, b'{"accepted": "everything"}'),
    ],
    ids=["unreachable", "503", "not-json", "bad-answer"],
)
async def test_the_tick_runs_on_while_the_cell_is_down(manager: Manager, transport) -> None:
    await manager.create(status=True, startup_seconds=0)
    await manager.use_transport(transport())
    await manager.tick(10)
    plant = await manager.plant()
    assert (plant["state"], plant["current"], plant["stale"]) == ("running", 500, True)
    assert plant["accepted_kw"] == 0


async def test_nothing_is_discharged_for_a_cell_that_stopped_answering(manager: Manager) -> None:
    buffer = {"capacity": 500, "maxOutput": 250, "maxCharge": 250, "current": 100}
    await manager.create(buffer=buffer)
    manager.cell.accept("p1", buffer_kw=100)
    await manager.tick(60)
    await manager.use_transport(unreachable())
    await manager.tick(60)  # delivers what the cell accepted before it went down
    await manager.tick(60)
    plant = await manager.plant()
    assert plant["buffer_discharge_kw"] == 0
    assert plant["buffer"]["current"] == pytest.approx(100 - 100 / 60 / BUFFER_EFFICIENCY)


async def test_a_cell_that_is_down_is_logged_once_not_every_tick(
    manager: Manager, caplog: pytest.LogCaptureFixture
) -> None:
    await manager.use_transport(unreachable())
    with caplog.at_level(logging.WARNING, logger="services.manager.service"):
        for _ in range(3):
            await manager.tick(1)
    assert len([r for r in caplog.records if "push failed" in r.message]) == 1
    assert manager.service.cells[0].failures == 3


async def test_the_cell_answering_again_is_used_again(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0)
    manager.cell.accept("p1", plant_kw=200)
    await manager.use_transport(unreachable())
    await manager.tick(1)
    await manager.use_transport(manager.cell.transport())
    await manager.tick(1)
    plant = await manager.plant()
    assert (plant["accepted_kw"], plant["stale"]) == (200, False)


async def test_a_restart_restores_state_and_co2_total(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path)
    async with running_manager(settings, clock) as manager:
        await manager.create(status=True, startup_seconds=0, ratio=0.6)
        await manager.tick(10)
        await manager.tick(3600)
        before = await manager.plant()
    async with running_manager(settings, clock) as manager:
        after = await manager.plant()
        await manager.tick(10)
        ticked = await manager.plant()
    for key in ("state", "current", "status", "ratio", "co2_total_kg", "buffer"):
        assert after[key] == before[key], key
    assert (after["state"], after["current"]) == ("running", 600)
    # It comes back running: no new start-up, production held at its set-point.
    assert (ticked["state"], ticked["current"]) == ("running", 600)


async def test_a_restart_restores_a_plant_that_was_starting(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path)
    async with running_manager(settings, clock) as manager:
        await manager.create(status=True, startup_seconds=10)
        await manager.tick(6)
    async with running_manager(settings, clock) as manager:
        assert (await manager.plant())["state"] == "starting"
        await manager.tick(4)
        assert (await manager.plant())["state"] == "running"


async def test_a_checkpoint_writes_the_dynamic_state(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0)
    manager.service.checkpoint_gate = Every(0.0)
    await manager.tick(3600)
    stored = await manager.app.state.runtime.storage.get(COLLECTION, "p1")
    assert (stored["state"], stored["production_kw"]) == ("running", 500)
    assert stored["co2_total_kg"] == pytest.approx(500 * EMISSION_KG_PER_KWH)
    assert stored["buffer_stored_kwh"] > 0


async def test_ticks_between_checkpoints_do_not_write(manager: Manager) -> None:
    await manager.create(status=True, startup_seconds=0)
    await manager.tick(3600)
    stored = await manager.app.state.runtime.storage.get(COLLECTION, "p1")
    assert (stored["state"], stored["production_kw"]) == ("stopped", 0)


async def test_another_name_does_not_load_the_plants(tmp_path: Path, clock: FakeClock) -> None:
    async with running_manager(make_settings(tmp_path), clock) as manager:
        await manager.create()
    async with running_manager(make_settings(tmp_path, name="north"), clock) as manager:
        assert (await manager.client.get("/api/members")).json() == {"body": []}


async def test_a_damaged_document_is_skipped_on_load(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path)
    async with running_manager(settings, clock) as manager:
        await manager.create(id="good")
        storage = manager.app.state.runtime.storage
        await storage.upsert(COLLECTION, {"id": "bad", "name": "default", "ratio": 7})
    async with running_manager(settings, clock) as manager:
        body = (await manager.client.get("/api/members")).json()["body"]
    assert [plant["id"] for plant in body] == ["good"]
