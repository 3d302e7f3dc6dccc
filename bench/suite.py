"""The whole suite under load: 10,000 prosumers and 1,000 consumer clusters.

Starts the six services as separate processes on loopback ports (SQLite in a
temporary directory), one tick a second, seeds the members through the public
API, lets the suite run, and reports for each service the tick duration
(p50, p99, max), missed ticks, the size of each tick's push, CPU time and
memory.

    python bench/suite.py [--prosumers 10000] [--consumers 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from services.common.settings import DEFAULT_SECRET
from services.seed import demo_scenario
from services.up import admin_token, spawn, stop, wait_healthy

SERVICES = ("weather", "simulation", "market", "manager", "prosumer", "auth")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, seconds (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, MB (from /proc)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def seed(urls: dict[str, str], prosumers: int, consumers: int) -> None:
    rng = random.Random(11)
    template = demo_scenario(rng)
    with httpx.Client(timeout=120.0) as client:
        token = admin_token(client, urls["auth"], DEFAULT_SECRET)
        client.headers["Authorization"] = f"Bearer {token}"
        client.post(
            f"{urls['market']}/api/members", json={"destination": urls["simulation"]}
        ).raise_for_status()
        plants = [{"id": "coal-1", "maxProduction": 60_000.0, "ratio": 0.6, "status": True}]
        client.post(f"{urls['manager']}/api/members", json=plants).raise_for_status()
        clusters = [
            {"id": f"cluster-{n:05d}", "households": rng.randint(20, 80)} for n in range(consumers)
        ]
        client.post(f"{urls['simulation']}/api/members/consumers", json=clusters).raise_for_status()
        house = template["prosumers"][0]
        for start in range(0, prosumers, 2_000):
            batch = [
                {
                    **house,
                    "id": f"house-{n:06d}",
                    "turbines": [round(rng.uniform(1, 3), 1) for _ in range(rng.randint(1, 3))],
                    "lat": 65.58 + rng.uniform(-0.2, 0.2),
                    "lon": 22.15 + rng.uniform(-0.4, 0.4),
                }
                for n in range(start, min(start + 2_000, prosumers))
            ]
            client.post(f"{urls['prosumer']}/api/members", json=batch).raise_for_status()


def health(client: httpx.Client, url: str, window: int | None = None) -> dict[str, Any]:
    params = {"window": window} if window else None
    body: dict[str, Any] = client.get(f"{url}/healthz", params=params).json()
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prosumers", type=int, default=10_000)
    parser.add_argument("--consumers", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gridmarket-bench-") as data_dir:
        ports = {service: free_port() for service in SERVICES}
        urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
        env = dict(os.environ)
        for service, port in ports.items():
            env[f"{service.upper()}_PORT"] = str(port)
        env.update(
            GRIDMARKET_DATA_DIR=data_dir,
            GRIDMARKET_ISSUER_URL=urls["auth"],
            GRIDMARKET_TICK_SECONDS="1",
            PROSUMER_WEATHER_URL=urls["weather"],
            SIMULATION_WEATHER_URL=urls["weather"],
            PROSUMER_SIMULATION_URLS=urls["simulation"],
            MANAGER_SIMULATION_URLS=urls["simulation"],
        )
        log = open(Path(data_dir) / "services.log", "wb")  # noqa: SIM115
        processes = {service: spawn(service, env, log) for service in SERVICES}
        try:
            wait_healthy(urls, processes)
            began = time.monotonic()
            seed(urls, args.prosumers, args.consumers)
            print(
                f"seeded {args.prosumers:,} prosumers and {args.consumers:,} clusters "
                f"in {time.monotonic() - began:.1f} s"
            )
            with httpx.Client(timeout=10.0) as client:
                # Let the first ticks with every member pass before measuring.
                time.sleep(3.0)
                before = {s: health(client, urls[s]) for s in SERVICES}
                cpu_before = {s: cpu_seconds(p.pid) for s, p in processes.items()}
                time.sleep(args.seconds)
                window = max(1, int(args.seconds))
                after = {s: health(client, urls[s], window) for s in SERVICES}
                cpu_after = {s: cpu_seconds(p.pid) for s, p in processes.items()}
                report(args, before, after, cpu_before, cpu_after, processes)
        finally:
            stop(processes)
            log.close()


def report(
    args: argparse.Namespace,
    before: dict[str, Any],
    after: dict[str, Any],
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
    processes: dict[str, Any],
) -> None:
    print(
        f"\n{args.prosumers:,} prosumers, {args.consumers:,} consumer clusters, "
        f"one tick a second, measured over {args.seconds:.0f} s\n"
    )
    print(
        "| service | ticks | p50 tick (ms) | p99 tick (ms) | max (ms) | missed ticks "
        "| push (bytes) | CPU (%) | RSS (MB) | peak RSS (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for service in SERVICES:
        tick_after, tick_before = after[service].get("tick"), before[service].get("tick")
        rss, peak = memory_mb(processes[service].pid)
        cpu = 100 * (cpu_after[service] - cpu_before[service]) / args.seconds
        push = after[service].get("metrics", {}).get("push_bytes")
        push_text = f"{push:,.0f}" if push is not None else "-"
        if tick_after:
            ticks = tick_after["ticks"] - tick_before["ticks"]
            missed = tick_after["missed_ticks"] - tick_before["missed_ticks"]
            print(
                f"| {service} | {ticks} | {tick_after['p50_duration_s'] * 1e3:.1f} "
                f"| {tick_after['p99_duration_s'] * 1e3:.1f} "
                f"| {tick_after['max_duration_s'] * 1e3:.1f} | {missed} | {push_text} "
                f"| {cpu:.1f} | {rss:.0f} | {peak:.0f} |"
            )
        else:
            print(
                f"| {service} | - | - | - | - | - | {push_text} | {cpu:.1f} | {rss:.0f} "
                f"| {peak:.0f} |"
            )


if __name__ == "__main__":
    main()
