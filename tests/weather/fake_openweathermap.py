"""A fake OpenWeatherMap on a loopback port: ``/data/2.5/weather`` with switchable behaviour.

Answers in OpenWeatherMap's documented current-weather format. Like the real API it
answers kelvin unless asked for ``units=metric``. Runs uvicorn in a background thread
so the service under test reaches it over real TCP with its own HTTP client.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

Behaviour = Literal["ok", "401", "429", "slow", "malformed", "missing", "negative_wind"]

OBSERVED_UNIX_S = 1_736_942_400
"""2025-01-15 12:00 UTC: the ``dt`` of every ok answer."""
TEMPERATURE_C = -12.5
WIND_SPEED_MS = 6.2
WIND_DIRECTION_DEG = 250
KELVIN_OFFSET = 273.15


@dataclass
class FakeOpenWeatherMap:
    """What the fake answers next, and every call it has had (their query parameters)."""

    url: str = ""
    behaviour: Behaviour = "ok"
    delay_s: float = 0.0
    """Wait before answering (``slow`` waits this long, then answers ok)."""
    calls: list[dict[str, str]] = field(default_factory=list)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def reset(self) -> None:
        self.behaviour = "ok"
        self.delay_s = 0.0
        self.calls.clear()


def ok_payload(lat: float, lon: float, *, metric: bool) -> dict[str, Any]:
    """A current-weather answer as OpenWeatherMap documents it."""
    offset = 0.0 if metric else KELVIN_OFFSET
    return {
        "coord": {"lon": lon, "lat": lat},
        "weather": [{"id": 600, "main": "Snow", "description": "light snow", "icon": "13d"}],
        "base": "stations",
        "main": {
            "temp": TEMPERATURE_C + offset,
            "feels_like": TEMPERATURE_C - 6.0 + offset,
            "temp_min": TEMPERATURE_C - 1.0 + offset,
            "temp_max": TEMPERATURE_C + 1.0 + offset,
            "pressure": 1012,
            "humidity": 86,
        },
        "visibility": 10000,
        "wind": {"speed": WIND_SPEED_MS, "deg": WIND_DIRECTION_DEG, "gust": 9.8},
        "clouds": {"all": 75},
        "dt": OBSERVED_UNIX_S,
        "sys": {"country": "SE", "sunrise": 1_736_933_000, "sunset": 1_736_947_000},
        "timezone": 3600,
        "id": 604490,
        "name": "Luleå",
        "cod": 200,
    }


def make_app(state: FakeOpenWeatherMap) -> FastAPI:
    app = FastAPI()

    @app.get("/data/2.5/weather")
    async def current_weather(request: Request) -> Response:
        params = dict(request.query_params)
        state.calls.append(params)
        if state.behaviour == "slow":
            await asyncio.sleep(state.delay_s)
        if state.behaviour == "401":
            message = "Invalid API key. Please see https://openweathermap.org/faq#error401."
            return JSONResponse({"cod": 401, "message": message}, status_code=401)
        if state.behaviour == "429":
            message = "Your account is temporary blocked due to exceeding of requests limitation"
            return JSONResponse({"cod": "429", "message": message}, status_code=429)
        if state.behaviour == "malformed":
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=200)
        payload = ok_payload(
            float(params.get("lat", 0)),
            float(params.get("lon", 0)),
            metric=params.get("units") == "metric",
        )
        if state.behaviour == "missing":
            del payload["wind"], payload["main"]
        if state.behaviour == "negative_wind":
            payload["wind"]["speed"] = -1.0
        return JSONResponse(payload)

    return app


@contextmanager
def running_fake_openweathermap() -> Iterator[FakeOpenWeatherMap]:
    """Serve a fake on a free 127.0.0.1 port in a background thread until the block ends."""
    state = FakeOpenWeatherMap()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        make_app(state),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake OpenWeatherMap did not start")
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=5.0)
        sock.close()
