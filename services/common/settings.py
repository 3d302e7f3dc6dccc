"""Settings read from the environment, one subclass per service.

Every service reads ``<PREFIX>_<FIELD>`` (for example ``MANAGER_PORT``).
``MONGODB_URI`` and ``NAME`` are also read without a prefix, as the original
deployment set them, so one variable can serve the whole suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me"


def _aliases(prefix: str, field: str, *plain: str) -> AliasChoices:
    return AliasChoices(f"{prefix}{field}".upper(), *plain)


class ServiceSettings(BaseSettings):
    """What every service needs; subclasses set ``service_name`` and the env prefix."""

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000

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

    def __init_subclass__(cls, *, prefix: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix is not None:
            cls.model_config = SettingsConfigDict(
                extra="ignore", frozen=True, env_prefix=f"{prefix}_"
            )
            # Unprefixed fallbacks for the variables the original deployment shared.
            for field, plain in (("mongodb_uri", "MONGODB_URI"), ("name", "NAME")):
                cls.model_fields[field].validation_alias = _aliases(f"{prefix}_", field, plain)
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


class AuthSettings(ServiceSettings, prefix="AUTH"):
    service_name: ClassVar[str] = "auth"
    default_port: ClassVar[int] = 8001


class ManagerSettings(ServiceSettings, prefix="MANAGER"):
    service_name: ClassVar[str] = "manager"
    default_port: ClassVar[int] = 8002


class ProsumerSettings(ServiceSettings, prefix="PROSUMER"):
    service_name: ClassVar[str] = "prosumer"
    default_port: ClassVar[int] = 8003


class MarketSettings(ServiceSettings, prefix="MARKET"):
    service_name: ClassVar[str] = "market"
    default_port: ClassVar[int] = 8004


class SimulationSettings(ServiceSettings, prefix="SIMULATION"):
    service_name: ClassVar[str] = "simulation"
    default_port: ClassVar[int] = 8005


class WeatherSettings(ServiceSettings, prefix="WEATHER"):
    service_name: ClassVar[str] = "weather"
    default_port: ClassVar[int] = 8006
