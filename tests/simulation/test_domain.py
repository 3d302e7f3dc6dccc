"""The cell's rules without a server: member columns, rolling order, clearing, clusters."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from services.physics.prosumer import balance
from services.simulation import domain
from services.simulation.domain import (
    PLANT_COLUMNS,
    PROSUMER_COLUMNS,
    ConsumerConfig,
    ConsumerFleet,
    MemberTable,
    clear_cell,
    rolling_priority,
)

WHEN = datetime(2026, 1, 15, 18, 0, tzinfo=ZoneInfo("Europe/Stockholm"))


def make_table(*ids: str) -> MemberTable:
    table = MemberTable(PROSUMER_COLUMNS)
    table.rows(list(ids), add=True)
    return table


# -- member table ------------------------------------------------------------------------------


def test_new_members_get_the_column_defaults():
    table = make_table("a")

    record = table.record(0)

    assert record["status"] is True and record["source"] == "none"
    assert record["offered_kw"] == 0.0 and record["owner"] is None
    assert record["lat"] is None and record["updated_s"] is None


def test_rows_of_unknown_ids_are_minus_one_unless_added():
    table = make_table("a", "b")

    assert table.rows(["b", "x"]).tolist() == [1, -1]
    assert table.rows(["b", "x"], add=True).tolist() == [1, 2]


def test_write_sets_one_value_per_row():
    table = make_table("a", "b", "c")

    table.write(np.array([2, 0]), {"offered_kw": [3.0, 1.0], "owner": "svc"})

    assert table["offered_kw"].tolist() == [1.0, 0.0, 3.0]
    assert table["owner"].tolist() == ["svc", None, "svc"]


def test_remove_keeps_the_other_members_rows_aligned():
    table = make_table("a", "b", "c")
    table.write(slice(None), {"offered_kw": [1.0, 2.0, 3.0]})

    assert table.remove("b")

    assert table.ids == ["a", "c"]
    assert table["offered_kw"].tolist() == [1.0, 3.0]
    assert table.row("c") == 1 and "b" not in table
    assert not table.remove("b")


def test_documents_hold_only_checkpointed_fields_and_load_back():
    table = MemberTable(PLANT_COLUMNS)
    doc = table.document("coal-1", {"production_kw": 80.0, "accepted_kw": 5.0, "state": "running"})

    restored = MemberTable(PLANT_COLUMNS)
    restored.load([doc])

    assert "accepted_kw" not in doc and "cleared" not in doc
    assert restored.record(0)["production_kw"] == 80.0
    assert restored.record(0)["state"] == "running"
    assert restored["updated_s"][0] == -math.inf


# -- rolling blackouts -------------------------------------------------------------------------


def test_rolling_priority_rotates_by_one_each_slot():
    assert rolling_priority(4, 0).tolist() == [0, 1, 2, 3]
    assert rolling_priority(4, 1).tolist() == [1, 2, 3, 0]
    assert rolling_priority(4, 5).tolist() == [1, 2, 3, 0]
    assert rolling_priority(0, 3).tolist() == []


def test_rolling_slot_changes_every_slot_length():
    later = datetime.fromtimestamp(WHEN.timestamp() + domain.ROLLING_SLOT_S, WHEN.tzinfo)

    assert domain.rolling_slot(later) == domain.rolling_slot(WHEN) + 1


# -- clearing ----------------------------------------------------------------------------------


def columns(spec: dict[str, domain.Column], n: int, **values: np.ndarray) -> dict[str, np.ndarray]:
    base = {name: np.full(n, c.default, dtype=c.dtype) for name, c in spec.items()}
    return {**base, **{name: np.asarray(value, dtype=float) for name, value in values.items()}}


def test_clear_cell_fills_demand_from_the_cheapest_tier():
    prosumers = columns(PROSUMER_COLUMNS, 1, offered_kw=[4.0], production_kw=[5.0])
    plants = columns(
        PLANT_COLUMNS,
        2,
        offered_kw=[10.0, 10.0],
        production_kw=[10.0, 10.0],
        marginal_cost_sek_per_kwh=[2.0, 1.0],
    )

    result = clear_cell(np.array([8.0]), prosumers, plants, slot=0)

    assert result.sold_fraction == 1.0
    assert result.plant_accepted_kw.tolist() == [0.0, 4.0]
    assert result.totals["cell_price_sek_per_kwh"] == 1.0


def test_clear_cell_without_members_is_all_zero():
    result = clear_cell(
        np.zeros(0), columns(PROSUMER_COLUMNS, 0), columns(PLANT_COLUMNS, 0), slot=0
    )

    assert all(value == 0.0 for value in result.totals.values())


@given(
    production=arrays(np.float64, 6, elements=st.floats(0, 10)),
    load=arrays(np.float64, 6, elements=st.floats(0, 10)),
    ratios=arrays(np.float64, 6, elements=st.floats(0, 1)),
    consumers=arrays(np.float64, st.integers(0, 5), elements=st.floats(0, 30)),
    plant_kw=st.floats(0, 60),
    buffer_kw=st.floats(0, 20),
    slot=st.integers(0, 100),
)
def test_clear_cell_conserves_energy(
    production, load, ratios, consumers, plant_kw, buffer_kw, slot
):
    flows = balance(
        production,
        load,
        ratios,
        ratios[::-1].copy(),
        np.zeros(6, dtype=bool),
        charge_limit_kw=np.full(6, 2.0),
        discharge_limit_kw=np.full(6, 2.0),
    )
    prosumers = columns(
        PROSUMER_COLUMNS,
        6,
        production_kw=production,
        load_kw=load,
        battery_charge_kw=flows.battery_charge_kw,
        battery_discharge_kw=flows.battery_discharge_kw,
        offered_kw=flows.offered_kw,
        requested_kw=flows.requested_kw,
        curtailed_kw=flows.curtailed_kw,
    )
    charge_kw = plant_kw * 0.1
    plants = columns(
        PLANT_COLUMNS,
        1,
        production_kw=[plant_kw],
        buffer_charge_kw=[charge_kw],
        offered_kw=[plant_kw - charge_kw],
        buffer_offer_kw=[buffer_kw],
    )

    totals = clear_cell(consumers, prosumers, plants, slot).totals

    supply = totals["totalProduction"] + totals["battery_discharge_kw"]
    use = (
        totals["totalDemand"]
        - totals["unserved_kw"]
        + totals["battery_charge_kw"]
        + totals["curtailed_kw"]
    )
    assert supply == pytest.approx(use, rel=1e-9, abs=1e-9)


# -- consumer clusters -------------------------------------------------------------------------


def test_changing_one_cluster_keeps_the_others_noise_and_demand():
    fleet = ConsumerFleet()
    fleet.put([ConsumerConfig(id="a"), ConsumerConfig(id="b")])
    fleet.step(WHEN, -5.0, np.random.default_rng(1), 3600.0)
    noise_b, demand_b = fleet.clusters.noise[1], fleet.demand_kw[1]

    fleet.put([ConsumerConfig(id="a", households=200)])
    fleet.remove("a")

    assert fleet.ids == ["b"]
    assert fleet.clusters.noise[0] == noise_b and fleet.demand_kw[0] == demand_b


def test_cluster_demand_scales_with_households_and_profile():
    fleet = ConsumerFleet()
    fleet.put(
        [
            ConsumerConfig(id="small"),
            ConsumerConfig(id="big", households=100),
            ConsumerConfig(id="frugal", profile=0.5),
        ]
    )

    demand = fleet.step(WHEN, 0.0, np.random.default_rng(1), 0.0)

    assert demand[1] == pytest.approx(2 * demand[0])
    assert demand[2] == pytest.approx(0.5 * demand[0])


@pytest.mark.parametrize(
    "overrides",
    [{"timefn": (0.5,) * 23}, {"timefn": (1.5,) * 24}, {"profile": -1.0}, {"households": 0}],
)
def test_cluster_config_refuses_impossible_values(overrides):
    with pytest.raises(ValueError):
        ConsumerConfig(id="x", **overrides)


def test_climatological_temperature_is_a_luleå_winter_evening():
    assert -20.0 < domain.climatological_temperature_c(WHEN, 22.154) < 0.0


def test_records_match_record_member_by_member():
    table = make_table("a", "b")
    table.write(np.array([1]), {"lat": 65.5, "owner": "svc", "blackout": True})

    assert table.records() == [table.record(0), table.record(1)]
    assert "blackout" not in table.records(persisted_only=True)[1]
