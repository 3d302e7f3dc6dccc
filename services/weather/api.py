"""Routes of the weather service: check the query, hand off to ``WeatherService``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.common.contracts import Location, WeatherBatch, WeatherBatchRequest, WeatherReading
from services.common.errors import InvalidInputError, error_responses
from services.weather.schemas import LegacyWeather
from services.weather.service import WeatherService


def get_service(request: Request) -> WeatherService:
    service: WeatherService = request.app.state.service
    return service


ServiceDep = Annotated[WeatherService, Depends(get_service)]
Latitude = Annotated[
    float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees north")
]
Longitude = Annotated[
    float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees east")
]

router = APIRouter(prefix="/api/weather", tags=["weather"])
legacy_router = APIRouter(tags=["legacy"])


@router.get("", response_model=WeatherReading, responses=error_responses(InvalidInputError))
async def weather_at(lat: Latitude, lon: Longitude, service: ServiceDep) -> WeatherReading:
    """The weather at one location now: wind at 10 m (m/s, degrees from) and temperature (°C)."""
    return await service.reading(Location(lat=lat, lon=lon))


@router.post("/batch", response_model=WeatherBatch, responses=error_responses(InvalidInputError))
async def weather_batch(request: WeatherBatchRequest, service: ServiceDep) -> WeatherBatch:
    """The weather at up to 1000 locations now, answered in the order asked."""
    return WeatherBatch(readings=await service.readings(request.locations))


@legacy_router.get("/", response_model=LegacyWeather, responses=error_responses(InvalidInputError))
async def legacy_weather(lat: Latitude, lon: Longitude, service: ServiceDep) -> LegacyWeather:
    """The original's `{lat, lon, temp, speed, last_updated}`; temp in °C (the original sent K)."""
    reading = await service.reading(Location(lat=lat, lon=lon))
    return LegacyWeather(
        lat=reading.lat,
        lon=reading.lon,
        temp=reading.temperature_c,
        speed=reading.wind_speed_ms,
        last_updated=reading.time,
    )
