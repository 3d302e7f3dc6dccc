"""Persistence for every service: the ``Storage`` port and its SQLite and MongoDB adapters.

Services open one storage in their lifespan with ``open_storage(settings)``
and reach it only through the port.
"""

from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings
from services.common.storage.mongo import MongoStorage
from services.common.storage.port import Document, Point, Storage
from services.common.storage.sqlite import SqliteStorage

__all__ = [
    "Document",
    "MongoStorage",
    "Point",
    "SqliteStorage",
    "Storage",
    "open_mongo",
    "open_sqlite",
    "open_storage",
]


async def open_sqlite(path: str | Path) -> SqliteStorage:
    """SQLite storage in the file at ``path``, creating it and its directories."""
    return await SqliteStorage.open(path)


async def open_mongo(uri: str, database: str) -> MongoStorage:
    """MongoDB storage in ``database``; UnavailableError if the server does not answer."""
    return await MongoStorage.open(uri, database)


async def open_storage(settings: ServiceSettings) -> Storage:
    """MongoDB when ``mongodb_uri`` is set, else the service's own SQLite file."""
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else ""
    if uri:
        return await open_mongo(uri, f"gridmarket_{settings.service_name}_{settings.name}")
    return await open_sqlite(settings.sqlite_path)
