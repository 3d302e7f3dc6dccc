"""The prosumer service's rules: battery banks, sites, rows, answers, documents."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.contracts import ProsumerPushAnswer
from services.prosumer import domain
from services.prosumer.domain import Battery, Member
from services.prosumer.repository import document_of, member_of

LULEA = (65.584, 22.154)


def make_member(**overrides: object) -> Member:
    values: dict[str, object] = {
        "id": "house",
        "turbines_kw": (3.0, 2.0),
        "batteries": (Battery(10.0, 5.0, 4.0), Battery(5.0, 2.0, 1.0)),
        "input_ratio": 0.5,
        "output_ratio": 0.5,
        "status": True,
        "lat": None,
        "lon": None,
        "hub_height_m": 30.0,
        "annual_kwh": 4380.0,
        "heating_per_c": 0.03,
        **overrides,
    }
    return Member(**values)  # type: ignore[arg-type]


def test_batteries_act_as_one_bank() -> None:
    roster = domain.roster_of([make_member()], LULEA, [6.0])
    bank = roster.fleet.battery

    assert (bank.capacity_kwh[0], bank.max_output_kw[0], bank.max_charge_kw[0]) == (15, 7, 5)
    assert bank.stored_kwh[0] == 6.0
    assert roster.fleet.rated_kw[0] == 5.0
    assert roster.fleet.base_load_kw[0] == 0.5


def test_stored_energy_is_clipped_to_capacity() -> None:
    roster = domain.roster_of([make_member()], LULEA, [99.0])

    assert roster.fleet.battery.stored_kwh[0] == 15.0


def test_stored_energy_splits_in_proportion_to_capacity() -> None:
    assert domain.split_stored(6.0, [10.0, 5.0]) == pytest.approx([4.0, 2.0])
    assert domain.split_stored(3.0, [0.0, 0.0]) == [0.0, 0.0]
    assert domain.split_stored(3.0, []) == []


def test_site_codes_group_locations_to_a_tenth_of_a_degree() -> None:
    codes = domain.site_code(np.array([65.56, 65.64, 65.66]), np.array([22.13, 22.07, 22.12]))

    assert codes[0] == codes[1] != codes[2]
    lat, lon = domain.site_location(codes)
    assert lat.tolist() == [65.6, 65.6, 65.7]
    assert lon.tolist() == [22.1, 22.1, 22.1]


def test_assign_sites_points_members_at_site_and_tower() -> None:
    members = [make_member(id="a"), make_member(id="b", lat=60.0, hub_height_m=49.0)]
    roster = domain.roster_of(members, LULEA, [0.0, 0.0])

    codes = domain.assign_sites(roster)

    assert codes.size == 2
    assert roster.fleet.site.tolist() == [1, 0]  # 60.0 N sorts first
    assert roster.fleet.site_tower.tolist() == [1 * 3 + 1, 0 * 3 + 2]


def test_rows_are_taken_concatenated_and_replaced_together() -> None:
    first = domain.roster_of([make_member(id="a")], LULEA, [1.0])
    second = domain.roster_of([make_member(id="b", input_ratio=0.9)], LULEA, [2.0])
    both = domain.concat_rows(first, second)
    both.live.production_kw[:] = [1.0, 2.0]

    domain.put_rows(both, [0], domain.take_rows(both, [1]))
    only_second = domain.take_rows(both, np.array([False, True]))

    assert len(both) == 2 and len(only_second) == 1
    assert both.fleet.input_ratio.tolist() == [0.9, 0.9]
    assert both.fleet.battery.stored_kwh.tolist() == [2.0, 2.0]
    assert both.live.production_kw.tolist() == [2.0, 2.0]
    assert only_second.live.source.dtype == np.uint8


def test_carried_rows_keep_what_the_tick_built_up() -> None:
    old = domain.roster_of([make_member()], LULEA, [5.0])
    old.fleet.repair_at_s[0] = 123.0
    old.live.production_kw[0] = 4.0

    new = domain.roster_of([make_member(turbines_kw=(1.0,))], LULEA, [5.0], carried=old)

    assert new.fleet.repair_at_s[0] == 123.0
    assert new.live.production_kw[0] == 4.0
    assert new.fleet.rated_kw[0] == 1.0


def test_answers_combine_to_least_sold_every_blackout_highest_price() -> None:
    answers = [
        ProsumerPushAnswer(time=None, sold_fraction=0.8, blackout=["a"], price_sek_per_kwh=1.0),
        ProsumerPushAnswer(time=None, sold_fraction=0.3, blackout=["b"], price_sek_per_kwh=2.0),
    ]

    combined = domain.combine_answers(answers)

    assert combined.sold_fraction == 0.3
    assert combined.blackout_ids == {"a", "b"}
    assert combined.price_sek_per_kwh == 2.0


def test_no_answer_yet_sells_nothing() -> None:
    assert domain.combine_answers([]) == domain.MarketAnswer(0.0, frozenset(), 0.0)


def test_documents_round_trip() -> None:
    member = make_member(lat=65.0, lon=21.0, blocked_until_s=1234.5)

    document = document_of(member, 6.0, "north")

    assert document["name"] == "north"
    assert [battery["current"] for battery in document["batteries"]] == pytest.approx([4.0, 2.0])
    assert member_of(document) == (member, pytest.approx(6.0))
