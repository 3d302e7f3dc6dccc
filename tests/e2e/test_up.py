"""``gridmarket up``: the suite from one command, seeded, and gone on SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common.settings import DEFAULT_SECRET
from services.up import DEFAULT_PORTS, admin_token
from tests.e2e.harness import eventually, port_free

pytestmark = pytest.mark.slow


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_offset() -> int:
    """An offset that puts every default port on a free port below the ephemeral range.

    Ports the kernel hands out to outgoing connections (32768 and up) could be
    taken by the time the services bind them.
    """
    rng = random.Random()
    for _ in range(100):
        offset = rng.randrange(10_000, 19_000)
        if all(port_free(port + offset) for port in DEFAULT_PORTS.values()):
            return offset
    raise AssertionError("no free block of ports")


def test_up_starts_seeds_and_stops_every_service(tmp_path: Path) -> None:
    offset = free_offset()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--port-offset",
            str(offset),
            "--tick",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        output = b""
        deadline = time.monotonic() + 60
        while b"Ctrl-C stops every service" not in output and time.monotonic() < deadline:
            assert process.stdout is not None
            output += process.stdout.readline()
            assert process.poll() is None, output.decode()
        text = output.decode()
        assert "demo scenario seeded" in text
        for service, port in DEFAULT_PORTS.items():
            assert f"{service}" in text and f":{port + offset}" in text

        prosumer = f"http://127.0.0.1:{DEFAULT_PORTS['prosumer'] + offset}"
        market = f"http://127.0.0.1:{DEFAULT_PORTS['market'] + offset}"
        auth = f"http://127.0.0.1:{DEFAULT_PORTS['auth'] + offset}"
        with httpx.Client() as client:
            token = admin_token(client, auth, DEFAULT_SECRET)
        members = httpx.get(f"{prosumer}/api/members", headers={"Authorization": f"Bearer {token}"})
        assert len(members.json()) == 25
        assert "Demo accounts (development mode only)" in text and "alice" in text
        eventually(lambda: httpx.get(f"{market}/api/price").json()["cells"] == 1)
        dashboard = f"http://127.0.0.1:{DEFAULT_PORTS['dashboard'] + offset}"
        assert f"dashboard   {dashboard}" in text and "<- open this" in text
        config = httpx.get(f"{dashboard}/config.json").json()
        assert config["services"]["auth"] == auth
        assert config["services"]["prosumer"] == prosumer
        children = children_of(process.pid)
        assert len(children) == len(DEFAULT_PORTS)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert not [pid for pid in children if alive(pid)]
