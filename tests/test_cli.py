"""``gridmarket simulate``: output files, printed figures, and refusals."""

from __future__ import annotations

import csv

import pytest

from services.cli import main

REQUIRED_COLUMNS = (
    "time wind_speed_ms prosumer_production_kw plant_production_kw battery_discharge_kw "
    "battery_charge_kw prosumer_load_kw consumer_demand_kw unserved_kw curtailed_kw "
    "battery_energy_kwh price_sek_per_kwh co2_kg_per_h"
).split()


def test_simulate_writes_one_row_per_tick_a_plot_and_prints_speed_and_balance(tmp_path, capsys):
    out, plot = tmp_path / "run.csv", tmp_path / "run.png"
    code = main(
        [
            "simulate",
            "--hours",
            "2",
            "--prosumers",
            "50",
            "--consumers",
            "10",
            "--plants",
            "1",
            "--seed",
            "7",
            "--out",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 120
    assert set(REQUIRED_COLUMNS) <= set(rows[0])
    assert plot.read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert "simulated hours per wall-clock second" in printed
    assert "energy balance" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hours", "-1"], "hours must be between"),
        (["--hours", "abc"], "hours must be a number"),
        (["--prosumers", "1.5"], "prosumers must be a number"),
        (["--plot", "run.jpg"], "--plot must name a .png file"),
        (["--out", "/no/such/dir/run.csv"], "does not exist"),
        (["--start", "yesterday"], "start must be an ISO date"),
        (["--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_with_code_2_and_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["simulate", *argv])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
