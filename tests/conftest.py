"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.common.storage import Storage, open_mongo, open_sqlite

_NX_STARTUP_S = 10.0


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def nx_mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of an in-memory nx-27017 server (MongoDB wire protocol) for the session."""
    workdir = tmp_path_factory.mktemp("nx-27017")
    port = _free_loopback_port()
    log_path = workdir / "server.log"
    command = [
        str(Path(sys.executable).with_name("nx-27017")),
        *("--db", "memory", "--host", "127.0.0.1", "-p", str(port)),
        # Its defaults live in /tmp and a stale pid file there stops it starting.
        *("--log-file", str(log_path), "--pid-file", str(workdir / "server.pid")),
    ]
    with (workdir / "output.log").open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + _NX_STARTUP_S
        while not _accepts_connections(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nx-27017 did not start; see {workdir}")
            time.sleep(0.05)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@asynccontextmanager
async def _scratch_database(uri: str) -> AsyncIterator[str]:
    """A fresh database name on ``uri``, dropped afterwards."""
    database = f"test_{uuid.uuid4().hex[:16]}"
    yield database
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    await client.drop_database(database)
    await client.close()


_REAL_MONGODB = pytest.param(
    "mongodb",
    marks=pytest.mark.skipif(
        not os.environ.get("MONGODB_URI"), reason="set MONGODB_URI to run against a real MongoDB"
    ),
)


@pytest.fixture(params=["sqlite", "nx-27017", _REAL_MONGODB])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An empty storage on each backend: a SQLite file, nx-27017, and MongoDB if configured."""
    if request.param == "sqlite":
        sqlite_storage = await open_sqlite(tmp_path / "storage.sqlite3")
        yield sqlite_storage
        await sqlite_storage.close()
        return
    uri = (
        request.getfixturevalue("nx_mongodb_uri")
        if request.param == "nx-27017"
        else os.environ["MONGODB_URI"]
    )
    async with _scratch_database(uri) as database:
        mongo_storage = await open_mongo(uri, database)
        yield mongo_storage
        await mongo_storage.close()


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in-process, with its lifespan run around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
def serve_app() -> Any:
    """``serving`` as a fixture: ``async with serve_app(app) as client: ...``."""
    return serving
