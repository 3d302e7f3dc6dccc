"""Many members' dynamic state as a few documents: columns in chunks.

Checkpointing 10,000 members as 10,000 documents costs a write (and a JSON
encoding) each. Their state is already columns in memory, so it is stored as
columns too: ``chunk_size`` members to a document, ``{"ids": [...],
"stored_kwh": [...], ...}``, and one header naming how many chunks make up the
latest save. Chunks beyond that count (left over from a larger save) are
ignored on load and removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.common.storage.port import Storage

CHUNK_SIZE = 5_000
"""Members per document: about 100 kB of JSON per numeric column, far below MongoDB's 16 MB."""


def _chunk_id(partition: str, index: int) -> str:
    return f"{partition}:{index:06d}"


def _header_id(partition: str) -> str:
    return f"{partition}:header"


async def save_columns(
    storage: Storage,
    collection: str,
    partition: str,
    ids: Sequence[str],
    columns: Mapping[str, Sequence[Any]],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> None:
    """Replace ``partition``'s saved columns with these, in one bulk write.

    Every column has one JSON-ready value per id. The header goes last, so a
    save cut short leaves the previous header pointing at whole chunks.
    """
    for name, values in columns.items():
        if len(values) != len(ids):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(ids)} ids")
    starts = range(0, len(ids), chunk_size)
    docs: list[dict[str, Any]] = [
        {
            "id": _chunk_id(partition, index),
            "name": partition,
            "ids": list(ids[start : start + chunk_size]),
            **{name: list(values[start : start + chunk_size]) for name, values in columns.items()},
        }
        for index, start in enumerate(starts)
    ]
    previous = await storage.get(collection, _header_id(partition))
    docs.append({"id": _header_id(partition), "name": partition, "chunks": len(docs)})
    await storage.upsert_many(collection, docs)
    for index in range(len(docs) - 1, int(previous["chunks"]) if previous else 0):
        await storage.delete(collection, _chunk_id(partition, index))


async def load_columns(storage: Storage, collection: str, partition: str) -> dict[str, list[Any]]:
    """The latest saved columns of ``partition``, with ``"id"``; empty if none were saved."""
    header = await storage.get(collection, _header_id(partition))
    if header is None:
        return {"id": []}
    wanted = {_chunk_id(partition, index) for index in range(int(header["chunks"]))}
    chunks = sorted(
        (
            doc
            for doc in await storage.list(collection, where={"name": partition})
            if doc["id"] in wanted
        ),
        key=lambda doc: str(doc["id"]),
    )
    result: dict[str, list[Any]] = {"id": []}
    for chunk in chunks:
        result["id"].extend(chunk["ids"])
        for name, values in chunk.items():
            if name not in ("id", "name", "ids"):
                result.setdefault(name, []).extend(values)
    return result
