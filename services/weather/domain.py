"""Weather rules: a synthetic weather field for any location, and OpenWeatherMap's readings.

Synthetic field
---------------
``services.physics.weather.SyntheticWeather`` models a fixed list of sites and only
moves forward in time. To answer for any location the globe is cut into tiles of
``TILE_LAT_DEG`` x ``TILE_LON_DEG``. A tile, when first needed, gets one
``SyntheticWeather`` over a lattice of sites every ``LATTICE_STEP_DEG`` that covers
the tile and a margin of ``BLEND_DEG`` on every side, seeded from (seed, tile row,
tile column). A location's weather is the bilinear interpolation of the four lattice
sites around it; wind direction is interpolated as unit vectors, so 350° and 10° give
0°, not 180°.

Tiles are independent of each other, so near a tile's edge (within ``BLEND_DEG``) a
location's value is a weighted mean of its own tile and the neighbour across the edge:
the weights run linearly from 1/2 on the edge to 1 at ``BLEND_DEG`` inside, and near
a corner the four tiles' weights are products of the two axes' weights. The field is
therefore continuous everywhere, including across the antimeridian. (A mean of two
independent fields varies less than either, so the weather in the blend bands is a
little calmer in its fluctuations than elsewhere.)

Every tile is sampled at one common time that never goes back: a clock that steps
backwards gets the latest values again. At most ``MAX_TILES`` tiles live at a time,
least recently used evicted; an evicted tile that is needed again starts afresh
(a jump the cap makes rare: a deployment's members sit in a few tiles).

The physics model has Luleå's climatology at every site (see its docstring): the
synthetic field is for simulating a region, not a forecast for Sydney.

Same seed and same sequence of request times give the same values.

OpenWeatherMap
--------------
``parse_openweathermap`` reads the current-weather payload of
``/data/2.5/weather?units=metric`` (``wind.speed`` m/s, ``wind.deg``, ``main.temp`` °C,
``dt`` unix seconds). ``location_key`` rounds a location to 0.1° (about 11 km), the
unit of caching and of upstream calls; ``CallBudget`` keeps the calls within a rolling
minute's allowance; ``ObservationCache`` holds the last good value per location.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from services.physics.weather import SyntheticWeather

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

TILE_LAT_DEG = 4.0
TILE_LON_DEG = 8.0
TILE_ROWS = round(180.0 / TILE_LAT_DEG)
TILE_COLUMNS = round(360.0 / TILE_LON_DEG)
LATTICE_STEP_DEG = 1.0
"""111 km north-south (47 km east-west at Luleå), inside the model's 200-1000 km
correlation lengths; a tile has 7 x 11 sites."""
BLEND_DEG = 1.0
"""Half-width of the band along a tile edge where the two tiles blend; also the lattice margin.

Tiles are independent, so the blend band is where neighbouring values differ most: a
wide band and large tiles keep that rare and gentle. With 4° x 8° tiles and a 1° band,
points 10 km apart at random in Scandinavia differ in January by at most about 1 m/s
and 1.4 °C (99 % within 0.5 m/s and 0.9 °C); 2° x 4° tiles with 0.5° lattice and band
gave twice that at the same cost per tile."""
MAX_TILES = 64
"""Live tiles at most (a tile costs about 1 ms to build and a few kB to hold)."""

CACHE_RESOLUTION_DEG = 0.1
"""Locations closer than this share one OpenWeatherMap value (0.1° is about 11 km)."""


# -- synthetic field --------------------------------------------------------------------------


@dataclass(frozen=True)
class Conditions:
    """The weather at n locations at one time."""

    time: datetime
    wind_speed_ms: FloatArray
    """(n,) wind speed at 10 m, m/s, >= 0."""
    wind_direction_deg: FloatArray
    """(n,) direction the wind comes from, degrees in [0, 360)."""
    temperature_c: FloatArray
    """(n,) air temperature at 2 m, °C."""


def _lattice_axis(start_deg: float, end_deg: float, low: float, high: float) -> FloatArray:
    """Lattice coordinates from ``start_deg`` to ``end_deg`` every step, kept within [low, high]."""
    count = round((end_deg - start_deg) / LATTICE_STEP_DEG) + 1
    axis = np.clip(start_deg + LATTICE_STEP_DEG * np.arange(count), low, high)
    return np.unique(axis)


def _wrap_degrees(delta_deg: ArrayLike) -> FloatArray:
    """An angle difference brought into [-180, 180)."""
    return np.asarray((np.asarray(delta_deg, dtype=float) + 180.0) % 360.0 - 180.0)


def _bilinear(
    y_axis: FloatArray, x_axis: FloatArray, grids: list[FloatArray], y: FloatArray, x: FloatArray
) -> list[FloatArray]:
    """Each (ny, nx) grid interpolated at the points (y, x), clamped to the axes' range."""
    i = np.clip(np.searchsorted(y_axis, y, side="right") - 1, 0, len(y_axis) - 2)
    j = np.clip(np.searchsorted(x_axis, x, side="right") - 1, 0, len(x_axis) - 2)
    ty = np.clip((y - y_axis[i]) / (y_axis[i + 1] - y_axis[i]), 0.0, 1.0)
    tx = np.clip((x - x_axis[j]) / (x_axis[j + 1] - x_axis[j]), 0.0, 1.0)
    return [
        (1 - ty) * (1 - tx) * grid[i, j]
        + (1 - ty) * tx * grid[i, j + 1]
        + ty * (1 - tx) * grid[i + 1, j]
        + ty * tx * grid[i + 1, j + 1]
        for grid in grids
    ]


class WeatherTile:
    """One ``SyntheticWeather`` over the lattice of one tile and its margins."""

    def __init__(self, row: int, column: int, *, seed: int, start: datetime) -> None:
        self.row = row
        self.column = column
        south = -90.0 + row * TILE_LAT_DEG
        west = -180.0 + column * TILE_LON_DEG
        self.centre_lon_deg = west + TILE_LON_DEG / 2
        self.lat_axis = _lattice_axis(south - BLEND_DEG, south + TILE_LAT_DEG + BLEND_DEG, -90, 90)
        self.lon_axis = _lattice_axis(
            west - BLEND_DEG, west + TILE_LON_DEG + BLEND_DEG, -math.inf, math.inf
        )
        lat, lon = np.meshgrid(self.lat_axis, self.lon_axis, indexing="ij")
        self.model = SyntheticWeather(
            lat.ravel(), lon.ravel(), seed=tile_seed(seed, row, column), start=start
        )

    def interpolate(
        self, latitudes_deg: FloatArray, longitudes_deg: FloatArray, at: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Wind speed (m/s), wind unit vector (east, north) and temperature (°C) at the points."""
        sample = self.model.sample(at)
        shape = (len(self.lat_axis), len(self.lon_axis))
        direction = np.radians(sample.wind_direction_deg)
        grids = [
            sample.wind_speed_ms.reshape(shape),
            np.sin(direction).reshape(shape),
            np.cos(direction).reshape(shape),
            sample.temperature_c.reshape(shape),
        ]
        # The tile's own longitudes, so a point across the antimeridian lands in the margin.
        lon = self.centre_lon_deg + _wrap_degrees(longitudes_deg - self.centre_lon_deg)
        speed, east, north, temperature = _bilinear(
            self.lat_axis, self.lon_axis, grids, latitudes_deg, lon
        )
        return speed, east, north, temperature


def tile_seed(seed: int, row: int, column: int) -> int:
    """A tile's own seed: a function of the service's seed and the tile's place only."""
    return int(np.random.SeedSequence([seed, row, column]).generate_state(1)[0])


def _axis_blend(
    offset_deg: FloatArray, size_deg: float, count: int, *, wrap: bool
) -> tuple[IntArray, IntArray, FloatArray]:
    """Along one axis: each point's tile, the neighbour it blends with, and that one's weight.

    ``offset_deg`` is the coordinate from the grid's origin. The neighbour's weight is
    1/2 on a tile edge, falling linearly to 0 at ``BLEND_DEG`` inside; with no
    neighbour (beyond a pole) it is 0.
    """
    tile = np.floor(offset_deg / size_deg).astype(np.int64)
    tile = tile % count if wrap else np.clip(tile, 0, count - 1)
    inside = offset_deg - tile * size_deg
    lower = inside < BLEND_DEG
    upper = inside > size_deg - BLEND_DEG
    neighbour = np.where(lower, tile - 1, np.where(upper, tile + 1, tile))
    weight = np.where(
        lower,
        0.5 - inside / (2 * BLEND_DEG),
        np.where(upper, 0.5 - (size_deg - inside) / (2 * BLEND_DEG), 0.0),
    )
    if wrap:
        neighbour = neighbour % count
    else:
        missing = (neighbour < 0) | (neighbour >= count)
        neighbour = np.where(missing, tile, neighbour)
        weight = np.where(missing, 0.0, weight)
    return tile, neighbour, np.clip(weight, 0.0, 0.5)


class SyntheticField:
    """Coherent synthetic weather at any location, built from lazily created tiles."""

    def __init__(self, seed: int, *, max_tiles: int = MAX_TILES) -> None:
        if max_tiles < 1:
            raise ValueError("max_tiles must be at least 1")
        self.seed = seed
        self.max_tiles = max_tiles
        self._tiles: OrderedDict[tuple[int, int], WeatherTile] = OrderedDict()
        self._latest: datetime | None = None

    @property
    def tile_count(self) -> int:
        return len(self._tiles)

    def at(self, latitudes_deg: ArrayLike, longitudes_deg: ArrayLike, now: datetime) -> Conditions:
        """The weather at each location at ``now`` (or at the latest time already sampled)."""
        lat = np.asarray(latitudes_deg, dtype=float)
        lon = np.asarray(longitudes_deg, dtype=float)
        if lat.ndim != 1 or lat.shape != lon.shape:
            raise ValueError("latitudes and longitudes must be equal-length 1-D arrays")
        if not (np.all(np.abs(lat) <= 90.0) and np.all(np.isfinite(lon))):
            raise ValueError("latitudes must be within [-90, 90] and longitudes finite")
        if self._latest is None or now > self._latest:
            self._latest = now
        when = self._latest

        n = lat.size
        speed, east, north, temperature = (np.zeros(n) for _ in range(4))
        for (row, column), points, weight in self._tile_shares(lat, lon):
            tile = self._tile(row, column, when)
            tile_speed, tile_east, tile_north, tile_temperature = tile.interpolate(
                lat[points], lon[points], when
            )
            # A point appears once per tile, so plain fancy-index accumulation is exact.
            speed[points] += weight * tile_speed
            east[points] += weight * tile_east
            north[points] += weight * tile_north
            temperature[points] += weight * tile_temperature
        direction = np.degrees(np.arctan2(east, north)) % 360.0
        return Conditions(
            time=when,
            wind_speed_ms=np.maximum(speed, 0.0),
            # `% 360` of a value a hair below 0 can round up to 360.0 itself.
            wind_direction_deg=np.where(direction >= 360.0, 0.0, direction),
            temperature_c=temperature,
        )

    def _tile_shares(
        self, lat: FloatArray, lon: FloatArray
    ) -> list[tuple[tuple[int, int], IntArray, FloatArray]]:
        """For each tile involved: its (row, column), the points it serves and their weights."""
        row, row_neighbour, row_weight = _axis_blend(
            lat + 90.0, TILE_LAT_DEG, TILE_ROWS, wrap=False
        )
        column, column_neighbour, column_weight = _axis_blend(
            (lon + 180.0) % 360.0, TILE_LON_DEG, TILE_COLUMNS, wrap=True
        )
        point = np.arange(lat.size)
        rows = np.concatenate([row, row_neighbour, row, row_neighbour])
        columns = np.concatenate([column, column, column_neighbour, column_neighbour])
        weights = np.concatenate(
            [
                (1 - row_weight) * (1 - column_weight),
                row_weight * (1 - column_weight),
                (1 - row_weight) * column_weight,
                row_weight * column_weight,
            ]
        )
        points = np.tile(point, 4)
        used = weights > 0
        rows, columns, weights, points = rows[used], columns[used], weights[used], points[used]
        tile_ids = rows * TILE_COLUMNS + columns
        shares = []
        for tile_id in np.unique(tile_ids):
            mine = tile_ids == tile_id
            key = (int(tile_id) // TILE_COLUMNS, int(tile_id) % TILE_COLUMNS)
            shares.append((key, points[mine], weights[mine]))
        return shares

    def _tile(self, row: int, column: int, when: datetime) -> WeatherTile:
        key = (row, column)
        tile = self._tiles.get(key)
        if tile is None:
            tile = WeatherTile(row, column, seed=self.seed, start=when)
            self._tiles[key] = tile
            while len(self._tiles) > self.max_tiles:
                self._tiles.popitem(last=False)
        else:
            self._tiles.move_to_end(key)
        return tile


# -- OpenWeatherMap ---------------------------------------------------------------------------


class BadPayload(ValueError):
    """An OpenWeatherMap answer that does not hold a usable reading."""


@dataclass(frozen=True)
class Observation:
    """One reading from OpenWeatherMap."""

    wind_speed_ms: float
    wind_direction_deg: float
    temperature_c: float
    time: datetime


def _number(container: Any, key: str, where: str) -> float:
    value = container.get(key) if isinstance(container, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPayload(f"{where} is missing or not a number")
    if not math.isfinite(value):
        raise BadPayload(f"{where} is not finite")
    return float(value)


def parse_openweathermap(payload: Any) -> Observation:
    """The reading in a ``/data/2.5/weather?units=metric`` answer; ``BadPayload`` if unusable.

    A missing ``wind.deg`` is read as 0 (OpenWeatherMap leaves it out in calm air); a
    negative or non-finite ``wind.speed`` makes the payload unusable.
    """
    if not isinstance(payload, Mapping):
        raise BadPayload("the answer is not a JSON object")
    wind = payload.get("wind")
    speed_ms = _number(wind, "speed", "wind.speed")
    if speed_ms < 0:
        raise BadPayload("wind.speed is negative")
    has_direction = isinstance(wind, Mapping) and wind.get("deg") is not None
    direction_deg = _number(wind, "deg", "wind.deg") % 360.0 if has_direction else 0.0
    temperature_c = _number(payload.get("main"), "temp", "main.temp")
    observed_s = _number(payload, "dt", "dt")
    try:
        observed = datetime.fromtimestamp(observed_s, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadPayload("dt is not a usable unix time") from exc
    return Observation(speed_ms, direction_deg, temperature_c, observed)


LocationKey = tuple[float, float]


def location_key(lat: float, lon: float) -> LocationKey:
    """The location rounded to ``CACHE_RESOLUTION_DEG``; 180° east is 180° west."""
    rounded_lon = round(lon, 1)
    if rounded_lon >= 180.0:
        rounded_lon -= 360.0
    return round(lat, 1) + 0.0, rounded_lon + 0.0  # + 0.0 turns -0.0 into 0.0


class CallBudget:
    """At most ``calls`` upstream calls in any rolling ``window_s``, and none while paused."""

    def __init__(
        self,
        calls: int,
        *,
        window_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if calls < 1:
            raise ValueError("calls must be at least 1")
        self.calls = calls
        self.window_s = window_s
        self._monotonic = monotonic
        self._spent: deque[float] = deque()
        self._paused_until = -math.inf

    def try_spend(self) -> bool:
        """Take one call from the budget if one is left; False when spent or paused."""
        now = self._monotonic()
        while self._spent and self._spent[0] <= now - self.window_s:
            self._spent.popleft()
        if now < self._paused_until or len(self._spent) >= self.calls:
            return False
        self._spent.append(now)
        return True

    def pause(self, seconds: float) -> None:
        """Make no call for ``seconds`` (the upstream asked us to back off)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)


@dataclass(frozen=True)
class Cached:
    observation: Observation
    fetched_at: float
    """Monotonic seconds when it was fetched."""


class ObservationCache:
    """The last good observation per location key, least recently used dropped beyond a cap."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[LocationKey, Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: LocationKey) -> Cached | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: LocationKey, observation: Observation, fetched_at: float) -> None:
        self._entries[key] = Cached(observation, fetched_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
