"""Weather use cases: the reading at one or many locations, from OpenWeatherMap or the model.

Without an OpenWeatherMap key every answer comes from the synthetic field (fresh,
``source="synthetic"``). With a key, each location rounded to 0.1° is fetched at most
once per ``cache_seconds``, within ``calls_per_minute`` calls per rolling minute, one
call at a time per location however many requests ask. When a fresh value cannot be
had (budget spent, 401, 429, timeout, unreachable, an unusable answer) the last good
value for that location is answered with ``stale=true``, or else the synthetic
model's, also ``stale=true``. The weather service has no tick loop: it answers on
request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from services.common.clock import Clock
from services.common.contracts import Location, WeatherReading
from services.common.settings import WeatherSettings
from services.weather.domain import (
    BadPayload,
    CallBudget,
    LocationKey,
    Observation,
    ObservationCache,
    SyntheticField,
    location_key,
    parse_openweathermap,
)

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0
"""The same kind of upstream failure is logged at most once per this many seconds."""
BACK_OFF_S = 60.0
"""No call for this long after OpenWeatherMap refused the key (401) or the rate (429)."""


class ThrottledLog:
    """Warnings logged at most once per interval for each kind, with a count of the rest."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = LOG_INTERVAL_S,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, kind: str, message: str) -> None:
        now = self._monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        self._logger.warning("%s%s", message, more)


class _RedactSecret(logging.Filter):
    """Replaces a secret in log records: httpx logs every request URL, and ours holds the key."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, "***")
            record.args = None
        return True


class UpstreamFailure(Exception):
    """OpenWeatherMap gave no reading; ``kind`` groups failures for the throttled log."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Found:
    """An OpenWeatherMap value for a location; ``stale`` when it is not a fresh one."""

    observation: Observation
    stale: bool


class OpenWeatherMap:
    """The upstream: cached per rounded location, within a call budget, one call per location."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        cache_seconds: float,
        calls_per_minute: int,
        timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/data/2.5/weather"
        self._api_key = api_key
        self._cache_seconds = cache_seconds
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self.budget = CallBudget(calls_per_minute, monotonic=monotonic)
        self.cache = ObservationCache()
        self._in_flight: dict[LocationKey, asyncio.Task[Observation | None]] = {}
        self._log = ThrottledLog(log, monotonic=monotonic)
        self._redact = _RedactSecret(api_key)
        logging.getLogger("httpx").addFilter(self._redact)

    async def find_many(self, keys: Sequence[LocationKey]) -> dict[LocationKey, Found | None]:
        """What is known for each distinct key: fetched now when due and allowed."""
        distinct = list(dict.fromkeys(keys))
        found = await asyncio.gather(*(self.find(key) for key in distinct))
        return dict(zip(distinct, found, strict=True))

    async def find(self, key: LocationKey) -> Found | None:
        """A fresh value, else the last good one (stale), else None."""
        cached = self.cache.get(key)
        if cached is not None and self._monotonic() - cached.fetched_at < self._cache_seconds:
            return Found(cached.observation, stale=False)
        observation = await self._fetch_shared(key)
        if observation is not None:
            return Found(observation, stale=False)
        cached = self.cache.get(key)
        return Found(cached.observation, stale=True) if cached is not None else None

    async def close(self) -> None:
        """Cancel calls still running and stop redacting the key from httpx's log."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        logging.getLogger("httpx").removeFilter(self._redact)

    async def _fetch_shared(self, key: LocationKey) -> Observation | None:
        """Fetch ``key``, joining a call already under way for it instead of making another."""
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key))
            self._in_flight[key] = task

            def forget(done: asyncio.Task[Observation | None]) -> None:
                if self._in_flight.get(key) is done:
                    del self._in_flight[key]

            task.add_done_callback(forget)
        # Shielded: one caller going away must not cancel the call the others wait for.
        return await asyncio.shield(task)

    async def _fetch(self, key: LocationKey) -> Observation | None:
        """One upstream call for ``key``, cached when good; None (and a log line) when not."""
        if not self.budget.try_spend():
            self._log.warning(
                "budget",
                f"OpenWeatherMap call budget spent ({self.budget.calls}/min) or backing off: "
                "answering from the cache or the synthetic model",
            )
            return None
        try:
            observation = await self._call(key)
        except UpstreamFailure as failure:
            self._log.warning(
                failure.kind,
                f"OpenWeatherMap {failure}; answering the last good value or the model",
            )
            return None
        self.cache.put(key, observation, self._monotonic())
        return observation

    async def _call(self, key: LocationKey) -> Observation:
        """``GET /data/2.5/weather`` for ``key``; ``UpstreamFailure`` when it gives no reading."""
        lat, lon = key
        params = {
            "lat": f"{lat:.1f}",
            "lon": f"{lon:.1f}",
            "appid": self._api_key,
            "units": "metric",
        }
        try:
            response = await self._http.get(self._url, params=params, timeout=self._timeout_s)
        except httpx.TimeoutException as exc:
            raise UpstreamFailure("timeout", f"timed out after {self._timeout_s} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # The exception's text may hold the URL, and so the key: name its type only.
            raise UpstreamFailure("unreachable", f"unreachable ({type(exc).__name__})") from exc
        # `cod` in the body is a number or a string depending on the error: trust the status.
        status = response.status_code
        if status in (401, 429):
            self.budget.pause(BACK_OFF_S)
            reason = "refused the API key" if status == 401 else "rate-limited us"
            raise UpstreamFailure(
                f"http-{status}", f"{reason} (HTTP {status}); no call for {BACK_OFF_S:.0f} s"
            )
        if status != 200:
            raise UpstreamFailure("http", f"answered HTTP {status}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise UpstreamFailure("payload", "sent a body that is not JSON") from exc
        try:
            return parse_openweathermap(payload)
        except BadPayload as exc:
            raise UpstreamFailure("payload", f"sent an unusable reading: {exc}") from exc


class WeatherService:
    """Readings at any location now, from OpenWeatherMap when configured, else the model."""

    def __init__(
        self,
        settings: WeatherSettings,
        clock: Clock,
        http: httpx.AsyncClient,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.synthetic = SyntheticField(settings.seed)
        key = settings.openweather_api_key
        self.upstream = (
            OpenWeatherMap(
                http,
                base_url=settings.openweather_url,
                api_key=key.get_secret_value(),
                cache_seconds=settings.cache_seconds,
                calls_per_minute=settings.calls_per_minute,
                timeout_s=settings.request_timeout_seconds,
                monotonic=monotonic,
            )
            if key is not None and key.get_secret_value()
            else None
        )

    async def reading(self, location: Location) -> WeatherReading:
        """The weather at one location now."""
        return (await self.readings([location]))[0]

    async def readings(self, locations: Sequence[Location]) -> list[WeatherReading]:
        """The weather at each location now, in the order given."""
        if self.upstream is None:
            return self._synthetic(locations, stale=False)
        keys = [location_key(location.lat, location.lon) for location in locations]
        found = await self.upstream.find_many(keys)
        answers = [
            _from_upstream(location, found[key])
            for location, key in zip(locations, keys, strict=True)
        ]
        missing = [index for index, answer in enumerate(answers) if answer is None]
        modelled = self._synthetic([locations[index] for index in missing], stale=True)
        for index, reading in zip(missing, modelled, strict=True):
            answers[index] = reading
        return [answer for answer in answers if answer is not None]

    async def close(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()

    def _synthetic(self, locations: Sequence[Location], *, stale: bool) -> list[WeatherReading]:
        if not locations:
            return []
        conditions = self.synthetic.at(
            [location.lat for location in locations],
            [location.lon for location in locations],
            self.clock.now(),
        )
        return [
            WeatherReading(
                lat=location.lat,
                lon=location.lon,
                wind_speed_ms=float(conditions.wind_speed_ms[index]),
                wind_direction_deg=float(conditions.wind_direction_deg[index]),
                temperature_c=float(conditions.temperature_c[index]),
                time=conditions.time,
                source="synthetic",
                stale=stale,
            )
            for index, location in enumerate(locations)
        ]


def _from_upstream(location: Location, found: Found | None) -> WeatherReading | None:
    if found is None:
        return None
    observation = found.observation
    return WeatherReading(
        lat=location.lat,
        lon=location.lon,
        wind_speed_ms=observation.wind_speed_ms,
        wind_direction_deg=observation.wind_direction_deg,
        temperature_c=observation.temperature_c,
        time=observation.time,
        source="openweathermap",
        stale=found.stale,
    )
