"""The dashboard left open: does the page's memory stay flat as events keep coming?

Starts the suite with ``gridmarket up`` (demo scenario, fast ticks), signs in
as the demo manager and the demo household in headless Chromium, and reads
each page's JavaScript heap (Chrome DevTools Protocol, after a garbage
collection), DOM node count and the network chunks it received per second
(the streams' events) every ``--every`` seconds while the streams run.
Also reports the size of the built app.

    python bench/dashboard.py [--minutes 10] [--tick 0.1] [--speed 60]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright

from services.common.settings import DEFAULT_SECRET
from services.up import DEFAULT_PORTS, demo_accounts

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORDS = {account.username: account.password for account in demo_accounts(DEFAULT_SECRET)}


def free_offset() -> int:
    for _ in range(200):
        offset = random.randrange(10_000, 19_000)
        ports = [port + offset for port in DEFAULT_PORTS.values()]
        if all(_free(port) for port in ports):
            return offset
    raise SystemExit("no free block of ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_suite(data: Path, offset: int, tick: float, speed: float) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if "SECRET" not in key}
    # To a file, not a pipe: a pipe nobody reads fills up and stalls the services' logging.
    log = data / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data)]
            + ["--port-offset", str(offset), "--tick", str(tick), "--speed", str(speed)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while "Ctrl-C" not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise SystemExit(f"gridmarket up exited with code {process.returncode}")
        time.sleep(0.5)
    return process


def sign_in(page: Page, dashboard: str, auth: str, username: str) -> None:
    page.goto(f"{dashboard}/")
    page.wait_for_url(re.compile(r"/login"))
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{auth}/authorize**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(dashboard) + r"/(manager|prosumer/)"))


def measure(cdp: CDPSession) -> dict[str, float]:
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"heap_mb": metrics["JSHeapUsedSize"] / 1e6, "nodes": metrics["Nodes"]}


def app_size() -> tuple[float, float]:
    files = list((ROOT / "frontend" / "dist" / "assets").glob("*"))
    raw = sum(path.stat().st_size for path in files)
    packed = sum(len(gzip.compress(path.read_bytes())) for path in files)
    return raw / 1024, packed / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between ticks")
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="simulated seconds per second: at 60 the grid charts' hour fills in a minute",
    )
    parser.add_argument("--every", type=float, default=60.0, help="seconds between readings")
    args = parser.parse_args()

    raw_kb, gzip_kb = app_size()
    print(f"built app: {raw_kb:.0f} KiB, {gzip_kb:.0f} KiB gzipped")
    offset = free_offset()
    dashboard = f"http://127.0.0.1:{DEFAULT_PORTS['dashboard'] + offset}"
    auth = f"http://127.0.0.1:{DEFAULT_PORTS['auth'] + offset}"
    with tempfile.TemporaryDirectory() as data:
        suite = start_suite(Path(data), offset, args.tick, args.speed)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                pages: dict[str, tuple[Page, CDPSession]] = {}
                chunks: dict[str, int] = {}

                def count_chunk(name: str, _event: Any) -> None:
                    chunks[name] += 1

                for username in ("manager", "alice"):
                    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                    sign_in(page, dashboard, auth, username)
                    cdp = page.context.new_cdp_session(page)
                    cdp.send("Performance.enable")
                    cdp.send("Network.enable")
                    chunks[username] = 0
                    cdp.on("Network.dataReceived", partial(count_chunk, username))
                    pages[username] = (page, cdp)
                events_per_s = 1 / args.tick
                print(f"{events_per_s:.0f} ticks/s; readings every {args.every:.0f} s")
                print(f"{'minute':>7} {'page':<8} {'heap MB':>8} {'DOM nodes':>10} {'chunks/s':>9}")
                readings: dict[str, list[dict[str, Any]]] = {name: [] for name in pages}
                started = last = time.monotonic()
                counted = dict(chunks)
                while True:
                    now = time.monotonic()
                    elapsed = now - started
                    for name, (_, cdp) in pages.items():
                        reading = measure(cdp)
                        readings[name].append(reading)
                        rate = (chunks[name] - counted[name]) / (now - last) if now > last else 0
                        counted[name] = chunks[name]
                        shown = f"{rate:9.1f}" if now > last else f"{'-':>9}"
                        print(
                            f"{elapsed / 60:7.1f} {name:<8} "
                            f"{reading['heap_mb']:8.2f} {reading['nodes']:10.0f} {shown}",
                            flush=True,
                        )
                    last = now
                    if elapsed >= args.minutes * 60:
                        break
                    time.sleep(args.every)
                for name, series in readings.items():
                    # From the first reading after a minute of streams on.
                    first, final = series[1] if len(series) > 1 else series[0], series[-1]
                    print(
                        f"{name}: heap {first['heap_mb']:.2f} -> {final['heap_mb']:.2f} MB, "
                        f"DOM nodes {first['nodes']:.0f} -> {final['nodes']:.0f}"
                    )
                browser.close()
        finally:
            suite.send_signal(signal.SIGTERM)
            suite.wait(timeout=30)


if __name__ == "__main__":
    main()
