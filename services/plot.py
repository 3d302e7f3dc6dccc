"""A picture of a headless run: production by source, demand, price, storage, CO2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from services.physics.grid import TickTotals  # noqa: E402


def plot_run(rows: Sequence[TickTotals], path: Path) -> None:
    """Draw four stacked panels over time into ``path`` (PNG)."""
    times = [row.time.replace(tzinfo=None) for row in rows]

    def column(name: str) -> np.ndarray:
        return np.array([getattr(row, name) for row in rows], dtype=float)

    figure, (power, price, energy, co2) = plt.subplots(
        4, 1, figsize=(11, 11), sharex=True, height_ratios=(3, 1.3, 1.3, 1.3)
    )
    sources = (
        column("prosumer_production_kw") / 1000,
        column("plant_production_kw") / 1000,
        column("battery_discharge_kw") / 1000,
    )
    power.stackplot(
        times,
        *sources,
        labels=("wind (prosumers)", "coal plant", "battery discharge"),
        colors=("#4c9be8", "#6b6b6b", "#f2a541"),
        alpha=0.85,
    )
    demand_mw = (column("prosumer_load_kw") + column("consumer_demand_kw")) / 1000
    power.plot(times, demand_mw, color="#c0392b", linewidth=1.6, label="demand")
    power.plot(times, column("unserved_kw") / 1000, color="black", linestyle=":", label="unserved")
    power.set_ylabel("MW")
    power.set_title("Production by source and demand")
    power.legend(loc="upper left", ncols=5, fontsize=8)

    price.step(times, column("price_sek_per_kwh"), where="post", color="#8e44ad")
    price.set_ylabel("SEK/kWh")
    price.set_title("Price in force")

    energy.plot(times, column("battery_energy_kwh") / 1000, color="#f2a541")
    energy.set_ylabel("MWh")
    energy.set_title("Stored energy (prosumer batteries and plant buffers)")

    co2.plot(times, column("co2_kg_per_h") / 1000, color="#2c3e50")
    co2.set_ylabel("t CO2 / h")
    co2.set_title("Carbon emission rate")
    co2.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))

    for axis in (power, price, energy, co2):
        axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
