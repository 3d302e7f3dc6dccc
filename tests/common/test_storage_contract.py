"""The storage port's contract, run against every adapter (see the ``storage`` fixture)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import ConflictError, InvalidInputError, UnavailableError
from services.common.settings import ManagerSettings
from services.common.storage import (
    MongoStorage,
    SqliteStorage,
    Storage,
    open_sqlite,
    open_storage,
)


def make_doc(id: str = "meter-1", **overrides: Any) -> dict[str, Any]:
    """A document with a field of every JSON type; ``overrides`` replace or add fields."""
    return {
        "id": id,
        "kind": "meter",
        "capacity_kw": 4.5,
        "phases": 3,
        "online": True,
        "owner": None,
        "tags": ["roof", "south"],
        "location": {"lat": 59.33, "lon": 18.07, "zone": "SE3"},
        **overrides,
    }


async def ids(storage: Storage, collection: str, **where: Any) -> list[str]:
    return [doc["id"] for doc in await storage.list(collection, where)]


# Documents


async def test_get_of_missing_id_returns_none(storage: Storage) -> None:
    assert await storage.get("meters", "nope") is None


async def test_insert_then_get_returns_the_document(storage: Storage) -> None:
    await storage.insert("meters", make_doc())

    assert await storage.get("meters", "meter-1") == make_doc()


async def test_documents_round_trip_every_json_type(storage: Storage) -> None:
    doc = make_doc(
        name="Vindkraft Åre ⚡",
        big=2**53,
        tiny=-1.5e-300,
        nested={"a": [1, 2.5, None, True, {"b": []}], "empty": {}},
    )
    await storage.insert("meters", doc)

    assert await storage.get("meters", "meter-1") == doc


async def test_insert_of_taken_id_raises_conflict_and_keeps_the_original(
    storage: Storage,
) -> None:
    await storage.insert("meters", make_doc(phases=1))

    with pytest.raises(ConflictError):
        await storage.insert("meters", make_doc(phases=3))
    assert (await storage.get("meters", "meter-1") or {})["phases"] == 1


async def test_same_id_in_two_collections_are_two_documents(storage: Storage) -> None:
    await storage.insert("meters", make_doc(kind="meter"))
    await storage.insert("plants", make_doc(kind="plant"))

    assert (await storage.get("meters", "meter-1") or {})["kind"] == "meter"
    assert (await storage.get("plants", "meter-1") or {})["kind"] == "plant"


async def test_upsert_creates_a_missing_document(storage: Storage) -> None:
    await storage.upsert("meters", make_doc())

    assert await storage.get("meters", "meter-1") == make_doc()


async def test_upsert_replaces_the_whole_document(storage: Storage) -> None:
    await storage.insert("meters", make_doc(note="old"))

    await storage.upsert("meters", {"id": "meter-1", "phases": 1})

    assert await storage.get("meters", "meter-1") == {"id": "meter-1", "phases": 1}


async def test_upsert_many_writes_every_document_and_counts_them(storage: Storage) -> None:
    await storage.insert("meters", make_doc("b", phases=1))

    written = await storage.upsert_many(
        "meters", [make_doc("a"), make_doc("b", phases=3), make_doc("c")]
    )

    assert written == 3
    assert await storage.list("meters") == [make_doc("a"), make_doc("b"), make_doc("c")]


async def test_upsert_many_of_nothing_writes_nothing(storage: Storage) -> None:
    assert await storage.upsert_many("meters", []) == 0
    assert await storage.list("meters") == []


async def test_upsert_many_with_a_repeated_id_keeps_the_last(storage: Storage) -> None:
    await storage.upsert_many("meters", [make_doc(phases=1), make_doc(phases=3)])

    assert (await storage.get("meters", "meter-1") or {})["phases"] == 3


async def test_upsert_many_with_an_invalid_document_writes_nothing(storage: Storage) -> None:
    with pytest.raises(InvalidInputError):
        await storage.upsert_many("meters", [make_doc("a"), {"phases": 1}])

    assert await storage.list("meters") == []


async def test_concurrent_upserts_all_land(storage: Storage) -> None:
    await asyncio.gather(*(storage.upsert("meters", make_doc(f"m{n:02}")) for n in range(20)))

    assert len(await storage.list("meters")) == 20


async def test_delete_removes_the_document_and_returns_true(storage: Storage) -> None:
    await storage.insert("meters", make_doc())

    assert await storage.delete("meters", "meter-1") is True
    assert await storage.get("meters", "meter-1") is None


async def test_delete_of_missing_id_returns_false(storage: Storage) -> None:
    assert await storage.delete("meters", "nope") is False


@pytest.mark.parametrize(
    "doc",
    [{"phases": 1}, {"id": 7}, {"id": ""}, {"id": "m", "_id": "x"}],
    ids=["no-id", "int-id", "empty-id", "mongo-id-field"],
)
async def test_documents_without_a_usable_id_are_refused(
    storage: Storage, doc: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInputError):
        await storage.upsert("meters", doc)


@pytest.mark.parametrize("name", ["", "1meters", "_meters", "me.ters", "me ters", "m;drop"])
async def test_collection_names_must_be_identifiers(storage: Storage, name: str) -> None:
    with pytest.raises(InvalidInputError):
        await storage.get(name, "meter-1")


# Returned and stored documents are copies


async def test_mutating_a_returned_document_changes_nothing_stored(storage: Storage) -> None:
    await storage.insert("meters", make_doc())

    fetched = await storage.get("meters", "meter-1") or {}
    fetched["phases"] = 99
    fetched["location"]["zone"] = "SE4"
    fetched["tags"].append("north")
    listed = await storage.list("meters")
    listed[0]["kind"] = "plant"

    assert await storage.get("meters", "meter-1") == make_doc()


async def test_mutating_the_input_after_writing_changes_nothing_stored(
    storage: Storage,
) -> None:
    doc = make_doc()
    await storage.insert("meters", doc)

    doc["location"]["zone"] = "SE4"
    doc["tags"].append("north")

    assert await storage.get("meters", "meter-1") == make_doc()


# Listing and filters


async def test_list_of_unknown_collection_is_empty(storage: Storage) -> None:
    assert await storage.list("meters") == []


async def test_list_orders_by_id(storage: Storage) -> None:
    for doc_id in ["b", "C", "a", "a10", "a2"]:
        await storage.insert("meters", make_doc(doc_id))

    assert await ids(storage, "meters") == ["C", "a", "a10", "a2", "b"]


async def test_list_filters_on_strings(storage: Storage) -> None:
    await storage.upsert_many(
        "meters", [make_doc("a", zone="SE3"), make_doc("b", zone="SE4"), make_doc("c", zone="3")]
    )

    assert await ids(storage, "meters", zone="SE3") == ["a"]


async def test_list_string_filter_does_not_match_numbers(storage: Storage) -> None:
    await storage.upsert_many("meters", [make_doc("a", phases=3), make_doc("b", phases="3")])

    assert await ids(storage, "meters", phases="3") == ["b"]


async def test_list_int_filter_matches_equal_floats_but_not_booleans(storage: Storage) -> None:
    await storage.upsert_many(
        "meters",
        [
            make_doc("int", phases=1),
            make_doc("float", phases=1.0),
            make_doc("bool", phases=True),
            make_doc("other", phases=2),
        ],
    )

    assert await ids(storage, "meters", phases=1) == ["float", "int"]


async def test_list_float_filter_matches_equal_floats(storage: Storage) -> None:
    await storage.upsert_many(
        "meters", [make_doc("a", capacity_kw=4.5), make_doc("b", capacity_kw=4.25)]
    )

    assert await ids(storage, "meters", capacity_kw=4.5) == ["a"]


async def test_list_zero_filter_does_not_match_false(storage: Storage) -> None:
    await storage.upsert_many(
        "meters", [make_doc("zero", phases=0), make_doc("false", phases=False)]
    )

    assert await ids(storage, "meters", phases=0) == ["zero"]


async def test_list_bool_filter_matches_only_booleans(storage: Storage) -> None:
    await storage.upsert_many(
        "meters",
        [
            make_doc("true", online=True),
            make_doc("false", online=False),
            make_doc("one", online=1),
            make_doc("zero", online=0),
        ],
    )

    assert await ids(storage, "meters", online=True) == ["true"]
    assert await ids(storage, "meters", online=False) == ["false"]


async def test_list_none_filter_matches_null_and_missing_fields(storage: Storage) -> None:
    missing = make_doc("missing")
    del missing["owner"]
    await storage.upsert_many(
        "meters",
        [
            make_doc("null", owner=None),
            missing,
            make_doc("set", owner="anna"),
            make_doc("falsy", owner=0),
        ],
    )

    assert await ids(storage, "meters", owner=None) == ["missing", "null"]


async def test_list_filter_on_several_fields_needs_all_to_match(storage: Storage) -> None:
    await storage.upsert_many(
        "meters",
        [
            make_doc("a", zone="SE3", phases=3),
            make_doc("b", zone="SE3", phases=1),
            make_doc("c", zone="SE4", phases=3),
        ],
    )

    assert await ids(storage, "meters", zone="SE3", phases=3) == ["a"]


async def test_list_filters_on_id(storage: Storage) -> None:
    await storage.upsert_many("meters", [make_doc("a"), make_doc("b")])

    assert await ids(storage, "meters", id="b") == ["b"]


@pytest.mark.parametrize("field", ["", "a.b", "$where", "_id", "x') OR 1=1 --", "1st"])
async def test_list_refuses_filter_fields_that_are_not_identifiers(
    storage: Storage, field: str
) -> None:
    with pytest.raises(InvalidInputError):
        await storage.list("meters", {field: 1})


@pytest.mark.parametrize("value", [["roof"], {"lat": 59.33}], ids=["list", "dict"])
async def test_list_refuses_filter_values_that_are_not_scalars(
    storage: Storage, value: object
) -> None:
    with pytest.raises(InvalidInputError):
        await storage.list("meters", {"tags": value})


# Series


def power_points(*times: float) -> list[tuple[float, dict[str, Any]]]:
    return [(t, {"power_kw": t * 10}) for t in times]


async def test_range_of_unknown_series_is_empty(storage: Storage) -> None:
    assert await storage.range("power") == []


async def test_range_returns_every_point_oldest_first(storage: Storage) -> None:
    await storage.append("power", power_points(30.0, 10.0, 20.0))

    assert await storage.range("power") == power_points(10.0, 20.0, 30.0)


async def test_appends_accumulate_across_batches(storage: Storage) -> None:
    await storage.append("power", power_points(10.0))
    await storage.append("power", power_points(20.0, 30.0))

    assert await storage.range("power") == power_points(10.0, 20.0, 30.0)


async def test_append_of_nothing_adds_nothing(storage: Storage) -> None:
    await storage.append("power", [])

    assert await storage.range("power") == []


async def test_range_start_is_inclusive_and_end_exclusive(storage: Storage) -> None:
    await storage.append("power", power_points(10.0, 20.0, 30.0, 40.0))

    assert await storage.range("power", start=20.0, end=40.0) == power_points(20.0, 30.0)


async def test_range_with_only_start_runs_to_the_newest(storage: Storage) -> None:
    await storage.append("power", power_points(10.0, 20.0, 30.0))

    assert await storage.range("power", start=15.0) == power_points(20.0, 30.0)


async def test_range_with_only_end_runs_from_the_oldest(storage: Storage) -> None:
    await storage.append("power", power_points(10.0, 20.0, 30.0))

    assert await storage.range("power", end=30.0) == power_points(10.0, 20.0)


async def test_range_limit_keeps_the_oldest_points(storage: Storage) -> None:
    await storage.append("power", power_points(40.0, 10.0, 30.0, 20.0))

    assert await storage.range("power", start=15.0, limit=2) == power_points(20.0, 30.0)


async def test_range_limit_zero_returns_nothing(storage: Storage) -> None:
    await storage.append("power", power_points(10.0))

    assert await storage.range("power", limit=0) == []


async def test_range_refuses_a_negative_limit(storage: Storage) -> None:
    with pytest.raises(InvalidInputError):
        await storage.range("power", limit=-1)


async def test_points_at_the_same_time_keep_insertion_order(storage: Storage) -> None:
    await storage.append("power", [(10.0, {"n": 1}), (10.0, {"n": 2})])
    await storage.append("power", [(10.0, {"n": 3})])

    assert await storage.range("power") == [(10.0, {"n": 1}), (10.0, {"n": 2}), (10.0, {"n": 3})]


async def test_point_times_come_back_as_floats(storage: Storage) -> None:
    await storage.append("power", [(1_700_000_000, {"power_kw": 1})])

    [(t, _)] = await storage.range("power")
    assert type(t) is float and t == 1_700_000_000.0


async def test_series_are_independent(storage: Storage) -> None:
    await storage.append("power", power_points(10.0))
    await storage.append("price", power_points(20.0))

    assert await storage.range("power") == power_points(10.0)


async def test_series_and_collections_of_one_name_are_independent(storage: Storage) -> None:
    await storage.append("power", power_points(10.0))
    await storage.insert("power", make_doc())

    assert await storage.range("power") == power_points(10.0)
    assert await ids(storage, "power") == ["meter-1"]


@pytest.mark.parametrize("t", [math.nan, math.inf])
async def test_append_refuses_times_that_cannot_be_ordered(storage: Storage, t: float) -> None:
    with pytest.raises(InvalidInputError):
        await storage.append("power", power_points(10.0, t))

    assert await storage.range("power") == []


# Health


async def test_ping_succeeds_while_open(storage: Storage) -> None:
    await storage.ping()


async def test_ping_after_close_raises_unavailable(storage: Storage) -> None:
    await storage.close()

    with pytest.raises(UnavailableError):
        await storage.ping()


# SQLite only


async def test_sqlite_keeps_data_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "storage.sqlite3"
    first = await open_sqlite(path)
    await first.insert("meters", make_doc())
    await first.append("power", power_points(10.0))
    await first.close()

    second = await open_sqlite(path)
    try:
        assert await second.get("meters", "meter-1") == make_doc()
        assert await second.range("power") == power_points(10.0)
    finally:
        await second.close()


async def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "storage.sqlite3"
    storage = await open_sqlite(path)
    await storage.insert("meters", make_doc())
    try:
        assert (tmp_path / "storage.sqlite3-wal").exists()
    finally:
        await storage.close()


# Factory


async def test_open_storage_without_mongodb_uri_opens_the_service_sqlite_file(
    tmp_path: Path,
) -> None:
    settings = ManagerSettings(mongodb_uri=None, data_dir=tmp_path / "nested" / "data", name="east")

    storage = await open_storage(settings)
    try:
        assert isinstance(storage, SqliteStorage)
        assert settings.sqlite_path.exists()
    finally:
        await storage.close()


async def test_open_storage_with_mongodb_uri_opens_a_database_per_service_and_name(
    nx_mongodb_uri: str,
) -> None:
    settings = ManagerSettings(mongodb_uri=nx_mongodb_uri, name="east")

    storage = await open_storage(settings)
    try:
        assert isinstance(storage, MongoStorage)
        assert storage.database_name == "gridmarket_manager_east"
    finally:
        await storage.close()
