"""Column checkpoints over the storage port, on every adapter."""

from __future__ import annotations

import pytest

from services.common.storage.columns import load_columns, save_columns


async def test_saved_columns_load_back_in_order(storage):
    ids = [f"m{i}" for i in range(12)]
    columns = {"stored_kwh": [i / 2 for i in range(12)], "blocked": [i % 3 == 0 for i in range(12)]}

    await save_columns(storage, "state", "north", ids, columns, chunk_size=5)

    loaded = await load_columns(storage, "state", "north")
    assert loaded == {"id": ids, **columns}


async def test_nothing_saved_loads_as_no_members(storage):
    assert await load_columns(storage, "state", "north") == {"id": []}


async def test_a_smaller_save_leaves_no_old_members_behind(storage):
    await save_columns(storage, "state", "north", ["a", "b", "c"], {"x": [1, 2, 3]}, chunk_size=1)
    await save_columns(storage, "state", "north", ["a"], {"x": [9]}, chunk_size=1)

    assert await load_columns(storage, "state", "north") == {"id": ["a"], "x": [9]}
    assert len(await storage.list("state")) == 2  # one chunk and the header


async def test_partitions_do_not_see_each_other(storage):
    await save_columns(storage, "state", "north", ["a"], {"x": [1]})
    await save_columns(storage, "state", "south", ["b"], {"x": [2]})

    assert (await load_columns(storage, "state", "south"))["id"] == ["b"]


async def test_columns_of_the_wrong_length_are_refused_before_writing(storage):
    with pytest.raises(ValueError, match="column 'x'"):
        await save_columns(storage, "state", "north", ["a", "b"], {"x": [1]})
    assert await storage.list("state") == []
