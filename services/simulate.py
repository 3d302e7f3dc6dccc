"""``gridmarket simulate``: the whole grid, headless, faster than real time.

Writes one CSV row per tick, optionally draws the day as a PNG, and prints
the speed (simulated hours per wall-clock second) and the energy-balance
error.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from services.physics.grid import GridModel, Scenario, TickTotals
from services.physics.prosumer import Breakdowns


def _bounded(
    kind: Callable[[str], Any], low: float, high: float, what: str
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low:g} and {high:g}")
        return value

    return parse


def _start_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"start must be an ISO date or date-time, got {text!r}"
        ) from None


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="run the grid headless and write one CSV row per tick",
        description=__doc__,
    )
    parser.add_argument("--hours", type=_bounded(float, 1e-3, 24 * 366, "hours"), default=24.0)
    parser.add_argument("--prosumers", type=_bounded(int, 0, 10_000_000, "prosumers"), default=1000)
    parser.add_argument("--consumers", type=_bounded(int, 0, 10_000_000, "consumers"), default=200)
    parser.add_argument("--plants", type=_bounded(int, 0, 1000, "plants"), default=1)
    parser.add_argument("--seed", type=_bounded(int, 0, 2**63 - 1, "seed"), default=7)
    parser.add_argument(
        "--step",
        type=_bounded(float, 0.1, 3600, "step (seconds)"),
        default=60.0,
        help="simulated seconds per tick (default 60)",
    )
    parser.add_argument(
        "--start",
        type=_start_time,
        default=datetime(2026, 1, 15),
        help="local start time, ISO format (default 2026-01-15T00:00)",
    )
    parser.add_argument("--no-breakdowns", action="store_true", help="turbines never fail")
    parser.add_argument("--out", type=Path, help="CSV file to write, one row per tick")
    parser.add_argument("--plot", type=Path, help="PNG file to draw the run into")
    parser.set_defaults(run=run)


def _check_writable(parser: argparse.ArgumentParser, option: str, path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        parser.error(f"{option} {path} is a directory, not a file")
    if not path.parent.resolve().is_dir():
        parser.error(f"{option}: directory {path.parent} does not exist")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _check_writable(parser, "--out", args.out)
    _check_writable(parser, "--plot", args.plot)
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        parser.error("--plot must name a .png file")

    scenario = Scenario(
        prosumers=args.prosumers,
        consumers=args.consumers,
        plants=args.plants,
        seed=args.seed,
        start=args.start,
        breakdowns=None if args.no_breakdowns else Breakdowns(),
    )
    ticks = max(1, round(args.hours * 3600 / args.step))
    started = time.perf_counter()
    rows = simulate(scenario, ticks, args.step)
    elapsed_s = time.perf_counter() - started

    if args.out is not None:
        write_csv(args.out, rows)
    if args.plot is not None:
        from services.plot import plot_run

        plot_run(rows, args.plot)

    simulated_h = ticks * args.step / 3600.0
    worst_tick, day = energy_balance(rows, args.step / 3600.0)
    print(
        f"simulated {simulated_h:g} h ({ticks} ticks of {args.step:g} s) for "
        f"{args.prosumers} prosumers, {args.consumers} consumer clusters, {args.plants} plant(s)"
    )
    print(f"speed: {simulated_h / elapsed_s:,.1f} simulated hours per wall-clock second")
    print(f"energy balance: worst tick {worst_tick:.2e}, whole run {day:.2e} (relative error)")
    if args.out is not None:
        print(f"wrote {args.out}")
    if args.plot is not None:
        print(f"drew {args.plot}")
    return 0


def simulate(scenario: Scenario, ticks: int, step_s: float) -> list[TickTotals]:
    """Run ``ticks`` ticks of ``step_s`` seconds and return every tick's totals."""
    model = GridModel(scenario)
    return [model.tick(step_s) for _ in range(ticks)]


def energy_balance(rows: Iterable[TickTotals], dt_h: float) -> tuple[float, float]:
    """Worst per-tick relative balance error, and the error over the whole run's energy."""
    worst, supply_kwh, use_kwh = 0.0, 0.0, 0.0
    for row in rows:
        worst = max(worst, row.balance_error())
        supply_kwh += row.supply_kw() * dt_h
        use_kwh += row.use_kw() * dt_h
    scale = max(abs(supply_kwh), abs(use_kwh), 1e-12)
    return worst, abs(supply_kwh - use_kwh) / scale


def write_csv(path: Path, rows: Iterable[TickTotals]) -> None:
    """One row per tick, the columns of ``TickTotals``; time in ISO 8601 with offset."""
    columns = TickTotals.columns()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            values = [getattr(row, column) for column in columns]
            values[0] = row.time.isoformat(timespec="seconds")
            writer.writerow(values)
