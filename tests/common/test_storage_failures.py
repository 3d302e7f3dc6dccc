"""A storage backend that cannot be reached is reported as unavailable (503)."""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from services.common.errors import UnavailableError
from services.common.storage import MongoStorage
from tests.e2e.harness import free_port


async def test_an_unreachable_mongodb_is_unavailable_not_an_internal_error():
    client: AsyncMongoClient = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}", serverSelectionTimeoutMS=200
    )
    storage = MongoStorage(client, "gridmarket_test")
    try:
        with pytest.raises(UnavailableError):
            await storage.get("members", "a")
        with pytest.raises(UnavailableError):
            await storage.upsert_many("members", [{"id": "a"}])
        with pytest.raises(UnavailableError):
            await storage.ping()
    finally:
        await storage.close()


async def test_a_sqlite_file_that_cannot_be_written_is_unavailable(tmp_path):
    from services.common.storage import open_sqlite

    storage = await open_sqlite(tmp_path / "gone.sqlite3")
    try:
        await storage.upsert("members", {"id": "a"})
        await storage._db.execute("PRAGMA query_only = ON")  # as a read-only or full disk would
        with pytest.raises(UnavailableError):
            await storage.upsert("members", {"id": "b"})
        assert (await storage.get("members", "a")) == {"id": "a"}
    finally:
        await storage.close()
