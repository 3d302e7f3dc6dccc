"""``Plants``: arrays resized on add and remove, records in and out, one tick's rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from services.manager.domain import PlantRecord, Plants
from services.physics.plant import PlantState


def make_record(**overrides: Any) -> PlantRecord:
    values: dict[str, Any] = {
        "id": "p1",
        "max_production_kw": 1000.0,
        "ratio": 0.5,
        "on": True,
        "buffer_capacity_kwh": 500.0,
        "buffer_max_output_kw": 250.0,
        "buffer_max_charge_kw": 250.0,
        "buffer_ratio": 0.05,
        "startup_s": 20.0,
        "ramp_fraction_per_s": 0.01,
        "min_load_fraction": 0.25,
        "efficiency": 0.4,
        **overrides,
    }
    return PlantRecord(**values)


def test_records_come_out_as_they_went_in() -> None:
    records = [
        make_record(id="a", state=PlantState.RUNNING, production_kw=480.0, co2_total_kg=12.5),
        make_record(id="b", on=False, buffer_stored_kwh=40.0, ramp_fraction_per_s=0.03),
    ]
    assert Plants(records).records() == records


def test_a_stored_production_of_a_plant_that_is_not_generating_is_dropped() -> None:
    plants = Plants([make_record(state=PlantState.STARTING, production_kw=300.0)])
    assert plants.record(0).production_kw == 0


def test_adding_plants_keeps_the_state_of_the_others() -> None:
    running = make_record(id="a", state=PlantState.RUNNING, production_kw=500.0)
    plants = Plants([running])
    plants.advance(60.0, np.zeros(1))
    before = plants.record(0)
    plants.add([make_record(id="b"), make_record(id="c")])
    assert plants.ids == ["a", "b", "c"]
    assert plants.record(0) == before
    assert len(plants.flows.offered_kw) == 3
    assert plants.flows.offered_kw[0] == pytest.approx(475.0)


def test_removing_a_plant_keeps_the_others_in_order() -> None:
    plants = Plants([make_record(id=name, ratio=ratio) for name, ratio in [("a", 0.3), ("b", 0.6)]])
    plants.add([make_record(id="c", ratio=0.9)])
    plants.remove("b")
    assert plants.ids == ["a", "c"]
    assert [record.ratio for record in plants.records()] == [0.3, 0.9]
    assert plants.fleet.buffer.stored_kwh.shape == (2,)


def test_removing_an_unknown_plant_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Plants([make_record()]).remove("nope")


def test_steering_changes_only_that_plant() -> None:
    plants = Plants([make_record(id="a"), make_record(id="b")])
    plants.steer(1, ratio=0.8, on=False, buffer_ratio=0.2)
    assert plants.record(0) == make_record(id="a")
    assert plants.record(1) == replace(make_record(id="b"), ratio=0.8, on=False, buffer_ratio=0.2)


def test_advance_charges_the_buffer_and_offers_the_rest() -> None:
    plants = Plants([make_record(state=PlantState.RUNNING, production_kw=500.0)])
    plants.advance(3600.0, np.zeros(1))
    assert plants.flows.buffer_charge_kw[0] == pytest.approx(25.0)
    assert plants.flows.offered_kw[0] == pytest.approx(475.0)
    assert plants.record(0).buffer_stored_kwh == pytest.approx(25.0 * 0.95)


def test_advance_delivers_at_most_what_the_buffer_holds() -> None:
    plants = Plants([make_record(on=False, buffer_stored_kwh=0.5)])
    plants.advance(60.0, np.array([250.0]))
    assert plants.flows.buffer_discharge_kw[0] == pytest.approx(0.5 * 0.95 * 60)
    assert plants.record(0).buffer_stored_kwh == pytest.approx(0.0)


def test_an_idle_plant_offers_its_buffer_and_a_running_one_does_not() -> None:
    plants = Plants(
        [
            make_record(id="idle", on=False, buffer_stored_kwh=100.0),
            make_record(
                id="running", state=PlantState.RUNNING, production_kw=500, buffer_stored_kwh=100.0
            ),
        ]
    )
    plants.advance(60.0, np.zeros(2))
    assert plants.flows.buffer_offer_kw.tolist() == [250.0, 0.0]


def test_no_plants_advance_without_error() -> None:
    plants = Plants()
    plants.advance(1.0, np.zeros(0))
    assert plants.records() == []
