"""Real service processes on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services.common.settings import DEFAULT_SECRET
from services.up import admin_token, spawn, stop, wait_healthy

T = TypeVar("T")


_handed_out: set[int] = set()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free loopback port below the ephemeral range, not handed out before in this run.

    Ports from 32768 up are what the kernel gives outgoing connections; one of them
    could be taken between choosing it here and a service binding it.
    """
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20_000, 32_000)
        if port not in _handed_out and port_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port")


class Processes:
    """Labelled service processes (``simulation-2`` is a second instance of ``simulation``)."""

    def __init__(self, data_dir: Path, base_env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.base_env = {**os.environ, **base_env, "GRIDMARKET_DATA_DIR": str(data_dir)}
        self.ports: dict[str, int] = {}
        self.env: dict[str, dict[str, str]] = {}
        self.services: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, label: str) -> str:
        return f"http://127.0.0.1:{self.ports[label]}"

    def add(self, label: str, service: str, **env: str) -> None:
        """Plan a process; its port is fixed now so peers can be told where it is.

        The process labelled ``auth`` is every process's token issuer.
        """
        self.ports[label] = free_port()
        self.services[label] = service
        self.env[label] = {f"{service.upper()}_PORT": str(self.ports[label]), **env}
        if label == "auth":
            self.base_env["GRIDMARKET_ISSUER_URL"] = self.url("auth")

    def admin_headers(self) -> dict[str, str]:
        """An Authorization header with the development administrator's token."""
        with httpx.Client(timeout=5.0) as client:
            token = admin_token(client, self.url("auth"), DEFAULT_SECRET)
        return {"Authorization": f"Bearer {token}"}

    def start(self, *labels: str) -> None:
        for label in labels or tuple(self.services):
            log = open(self.data_dir / f"{label}.log", "ab")  # noqa: SIM115
            self.processes[label] = spawn(
                self.services[label], {**self.base_env, **self.env[label]}, log
            )
        wait_healthy(
            {label: self.url(label) for label in labels or self.services},
            self.processes,
        )

    def stop(self, *labels: str) -> None:
        chosen = {label: self.processes.pop(label) for label in labels or list(self.processes)}
        stop(chosen)

    def logs(self, label: str) -> str:
        return (self.data_dir / f"{label}.log").read_text(errors="replace")[-4000:]


def eventually(check: Callable[[], T | None], timeout_s: float = 20.0, every_s: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    raise AssertionError(f"condition not met in {timeout_s} s; last result: {last!r}")
