"""Wire formats of the weather service that no other service reads.

The readings prosumer and simulation services use (``WeatherReading``,
``WeatherBatchRequest``, ``WeatherBatch``) are in ``services.common.contracts``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class LegacyWeather(BaseModel):
    """The original service's answer to ``GET /?lat=&lon=``."""

    lat: float = Field(description="latitude, degrees north")
    lon: float = Field(description="longitude, degrees east")
    temp: float = Field(
        description="air temperature, °C (the original asked OpenWeatherMap without "
        "units=metric and so sent kelvin)"
    )
    speed: float = Field(ge=0, description="wind speed at 10 m, m/s")
    last_updated: datetime = Field(description="when the value was observed or modelled")
