"""Cost of one full prosumer physics tick, per prosumer, beside a bare numpy floor.

The full tick is what a prosumer service does every tick for all its members:
sample the weather sites, look each member's site up, evaluate the turbines,
the household load (H0 shape, heating, noise), split surplus and deficit by the
ratios, move the batteries, and settle the flows with the market's answer.

The floor, measured in the same run on the same arrays, is a bare kernel that
does only the turbine curve (``np.interp`` per member) and a battery update.

    python bench/tick.py [--sizes 1000 10000 100000 1000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from services.common.clock import later
from services.physics import turbine
from services.physics.grid import LULEA_LAT_DEG, LULEA_LON_DEG, demo_prosumers
from services.physics.prosumer import Breakdowns, settle
from services.physics.weather import SyntheticWeather

SITES = 16
DT_S = 1.0


def full_tick_seconds(n: int, repeat: int) -> list[float]:
    rng = np.random.default_rng(1)
    fleet = demo_prosumers(n, SITES, rng)
    start = datetime(2026, 1, 15, 12, tzinfo=ZoneInfo("Europe/Stockholm"))
    weather = SyntheticWeather(
        LULEA_LAT_DEG + np.linspace(0, 0.5, SITES),
        np.full(SITES, LULEA_LON_DEG),
        seed=1,
        start=start,
    )
    no_shed = np.zeros(n, dtype=bool)
    timings = []
    for tick in range(repeat + 2):
        now = later(start, (tick + 1) * DT_S)
        began = time.perf_counter()
        sample = weather.sample(now)
        flows = fleet.step(
            now,
            (tick + 1) * DT_S,
            DT_S,
            sample.wind_speed_ms,
            sample.temperature_c,
            rng,
            Breakdowns(),
        )
        settle(flows, 0.8, no_shed)
        timings.append(time.perf_counter() - began)
    return timings[2:]


def floor_seconds(n: int, repeat: int) -> list[float]:
    rng = np.random.default_rng(1)
    curve = turbine.bergey_excel_10()
    hub_wind = rng.uniform(0, 20, n)
    rated = rng.uniform(1, 9, n)
    capacity = rng.uniform(5, 27, n)
    stored = capacity * 0.5
    max_charge = np.full(n, 5.0)
    dt_h = DT_S / 3600
    timings = []
    for _ in range(repeat + 2):
        began = time.perf_counter()
        production = np.interp(hub_wind, curve.wind_speed_ms, curve.power_fraction) * rated
        charge = np.minimum(production, np.minimum(max_charge, (capacity - stored) / dt_h))
        stored += charge * dt_h
        timings.append(time.perf_counter() - began)
    return timings[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"numpy {np.__version__}; median of {args.repeat} ticks each\n")
    print(
        "| prosumers | full tick (ms) | per prosumer (ns) | floor (ms) | floor per prosumer (ns) "
        "| full / floor |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        repeat = max(3, args.repeat if n <= 100_000 else args.repeat // 3)
        full = statistics.median(full_tick_seconds(n, repeat))
        floor = statistics.median(floor_seconds(n, repeat))
        print(
            f"| {n:,} | {full * 1e3:.2f} | {full / n * 1e9:.0f} | {floor * 1e3:.2f} "
            f"| {floor / n * 1e9:.0f} | {full / floor:.2f} |"
        )


if __name__ == "__main__":
    main()
