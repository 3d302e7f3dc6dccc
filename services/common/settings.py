"""Settings read from the environment, one subclass per service.

Every service reads ``<PREFIX>_<FIELD>`` (for example ``MANAGER_PORT``).
``MONGODB_URI`` and ``NAME`` are also read without a prefix, as the original
deployment set them, so one variable can serve the whole suite.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET = "change-me"


def _aliases(prefix: str, field: str, *plain: str) -> AliasChoices:
    return AliasChoices(f"{prefix}{field}".upper(), *plain)


class ServiceSettings(BaseSettings):
    """What every service needs; subclasses set ``service_name`` and the env prefix."""

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000
    shared_env: ClassVar[dict[str, str]] = {
        "mongodb_uri": "MONGODB_URI",
        "name": "NAME",
        "environment": "GRIDMARKET_ENVIRONMENT",
        "data_dir": "GRIDMARKET_DATA_DIR",
        "speed": "GRIDMARKET_SPEED",
        "start": "GRIDMARKET_START",
        "tick_seconds": "GRIDMARKET_TICK_SECONDS",
        "checkpoint_seconds": "GRIDMARKET_CHECKPOINT_SECONDS",
        "seed": "GRIDMARKET_SEED",
    }
    """Fields also read from one suite-wide variable when their prefixed one is unset."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Path("data")
    mongodb_uri: SecretStr | None = None
    name: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="partition of members between instances of one service",
    )
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    timezone: str = "Europe/Stockholm"
    speed: float = Field(default=1.0, gt=0, description="simulated seconds per wall second")
    tick_seconds: float = Field(default=1.0, gt=0, description="wall seconds between ticks")
    start: datetime | None = Field(
        default=None, description="simulated time at start-up; now when unset"
    )
    checkpoint_seconds: float = Field(
        default=10.0, gt=0, description="wall seconds between checkpoints of dynamic state"
    )
    seed: int = Field(default=7, ge=0, description="seed of the service's random numbers")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # Runs once the subclass's fields exist: give them the service's prefix,
        # and the suite-wide fallbacks.
        super().__pydantic_init_subclass__(**kwargs)
        prefix = f"{cls.service_name.upper()}_"
        # populate_by_name: keyword arguments by field name (``seed=3``) must not be
        # dropped silently because the field also has environment aliases.
        cls.model_config = SettingsConfigDict(
            extra="ignore", frozen=True, env_prefix=prefix, populate_by_name=True
        )
        for field, plain in cls.shared_env.items():
            cls.model_fields[field].validation_alias = _aliases(prefix, field, plain)
        cls.model_rebuild(force=True)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> ServiceSettings:
        if self.environment == "production":
            if self.secret_key.get_secret_value() == DEFAULT_SECRET:
                raise ValueError(
                    f"{self.service_name}: secret_key must be set in production "
                    "(the default is public)"
                )
        return self

    @property
    def listen_port(self) -> int:
        """The configured port, or the service's default when none is set."""
        return self.port or self.default_port

    @property
    def sqlite_path(self) -> Path:
        """One SQLite file per service (and per ``NAME`` partition) in the data directory."""
        return self.data_dir / f"{self.service_name}-{self.name}.sqlite3"


URLList = Annotated[list[str], NoDecode]


def _url_list(value: Any) -> Any:
    """A list of URLs from JSON or from a comma-separated string; trailing slashes dropped."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            value = json.loads(text)
        else:
            value = [part for part in (p.strip() for p in text.split(",")) if part]
    if isinstance(value, list):
        return [str(url).rstrip("/") for url in value]
    return value


LATITUDE = Field(default=65.584, ge=-90, le=90, description="latitude, degrees north")
LONGITUDE = Field(default=22.154, ge=-180, le=180, description="longitude, degrees east")


class AuthSettings(ServiceSettings):
    service_name: ClassVar[str] = "auth"
    default_port: ClassVar[int] = 8001


class ManagerSettings(ServiceSettings):
    service_name: ClassVar[str] = "manager"
    default_port: ClassVar[int] = 8002

    simulation_urls: URLList = ["http://127.0.0.1:8005"]
    """Simulation cells that receive every plant's state each tick."""

    _urls = field_validator("simulation_urls", mode="before")(_url_list)


class ProsumerSettings(ServiceSettings):
    service_name: ClassVar[str] = "prosumer"
    default_port: ClassVar[int] = 8003

    simulation_urls: URLList = ["http://127.0.0.1:8005"]
    """Simulation cells that receive every prosumer's state each tick."""
    weather_url: str = "http://127.0.0.1:8006"
    latitude: float = LATITUDE
    longitude: float = LONGITUDE
    """Where members without a location of their own stand."""

    _urls = field_validator("simulation_urls", mode="before")(_url_list)


class MarketSettings(ServiceSettings):
    service_name: ClassVar[str] = "market"
    default_port: ClassVar[int] = 8004

    poll_timeout_seconds: float = Field(default=0.5, gt=0, description="per-cell poll timeout")


class SimulationSettings(ServiceSettings):
    service_name: ClassVar[str] = "simulation"
    default_port: ClassVar[int] = 8005

    weather_url: str = "http://127.0.0.1:8006"
    latitude: float = LATITUDE
    longitude: float = LONGITUDE
    """Where the cell's consumer clusters stand (for their temperature)."""
    stale_after_seconds: float = Field(
        default=10.0, gt=0, description="a pushed state older than this is stale"
    )


class WeatherSettings(ServiceSettings):
    service_name: ClassVar[str] = "weather"
    default_port: ClassVar[int] = 8006
    shared_env: ClassVar[dict[str, str]] = {
        **ServiceSettings.shared_env,
        "openweather_api_key": "OPENWEATHER_API_KEY",
    }

    openweather_api_key: SecretStr | None = None
    """OpenWeatherMap key; the synthetic model answers when unset."""
    openweather_url: str = "https://api.openweathermap.org"
    cache_seconds: float = Field(default=600.0, ge=0, description="cache per rounded location")
    calls_per_minute: int = Field(default=60, ge=1, description="OpenWeatherMap call budget")
    request_timeout_seconds: float = Field(default=5.0, gt=0)
