"""Settings read from the environment, one subclass per service.

Every service reads ``<PREFIX>_<FIELD>`` (for example ``MANAGER_PORT``).
``MONGODB_URI`` and ``NAME`` are also read without a prefix, as the original
deployment set them, so one variable can serve the whole suite.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.security import derive_client_secret

DEFAULT_SECRET = "change-me"
DASHBOARD_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]
"""Where the dashboard is served in development: the browser origins the APIs answer."""
DASHBOARD_CLIENT_ID = "gridmarket-dashboard"
"""The issuer's public client (no secret): the dashboard, signing users in with code + PKCE."""


def _aliases(prefix: str, field: str, *plain: str) -> AliasChoices:
    return AliasChoices(f"{prefix}{field}".upper(), *plain)


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


def _without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def _development_client_secret(fields: dict[str, Any]) -> SecretStr:
    # ``fields`` holds the fields validated so far: secret_key and client_id come first.
    # If one of them failed validation, the error is already reported; any value will do.
    secret_key = fields.get("secret_key", SecretStr(DEFAULT_SECRET)).get_secret_value()
    return SecretStr(derive_client_secret(secret_key, fields.get("client_id", "")))


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
        "issuer_url": "GRIDMARKET_ISSUER_URL",
        "issuer_internal_url": "GRIDMARKET_ISSUER_INTERNAL_URL",
        "cors_origins": "GRIDMARKET_CORS_ORIGINS",
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
    issuer_url: str = Field(
        default="http://127.0.0.1:8001",
        description="the OpenID Connect issuer (the auth service's external base URL)",
    )
    issuer_internal_url: str | None = Field(
        default=None,
        description="where this service reaches the issuer when that is not issuer_url (inside "
        "docker-compose: http://auth:8001); tokens still name issuer_url; unset: issuer_url",
    )
    audience: str = Field(default="gridmarket", description="the 'aud' every API token carries")
    cors_origins: URLList = Field(
        default_factory=lambda: list(DASHBOARD_ORIGINS),
        description="browser origins allowed to call the API (the dashboard)",
    )
    client_id: str = Field(
        default="service",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="this service's own client at the issuer; the service name by default",
    )
    client_secret: SecretStr = Field(
        default_factory=_development_client_secret,
        description="this service's client secret; derived from secret_key in development",
    )

    _issuer_url = field_validator("issuer_url", mode="after")(_without_trailing_slash)

    @field_validator("issuer_internal_url", mode="after")
    @classmethod
    def _issuer_internal_url(cls, value: str | None) -> str | None:
        # An empty variable unsets it, as if the issuer were reached at issuer_url.
        stripped = (value or "").rstrip("/")
        return stripped or None

    _cors_origins = field_validator("cors_origins", mode="before")(_url_list)

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
        cls.model_fields["client_id"].default = cls.service_name
        cls.model_rebuild(force=True)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> ServiceSettings:
        if self.environment == "production":
            if self.secret_key.get_secret_value() == DEFAULT_SECRET:
                raise ValueError(
                    f"{self.service_name}: secret_key must be set in production "
                    "(the default is public)"
                )
            if "client_secret" not in self.model_fields_set:
                raise ValueError(
                    f"{self.service_name}: client_secret must be set in production "
                    "(the development default is derived from secret_key)"
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


LATITUDE = Field(default=65.584, ge=-90, le=90, description="latitude, degrees north")
LONGITUDE = Field(default=22.154, ge=-180, le=180, description="longitude, degrees east")


CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]+$"
PRODUCTION_MIN_CLIENT_SECRET = 16
PRODUCTION_MIN_HASH_MEMORY_KIB = 19_456
PRODUCTION_MIN_HASH_TIME_COST = 2
"""OWASP's floor for Argon2id: 19 MiB and two passes."""


class ServiceClientConfig(BaseModel):
    """A service that gets tokens with the client_credentials grant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr = Field(min_length=1)
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] = Field(default_factory=list)


DEVELOPMENT_SERVICE_SCOPES = {
    "prosumer": ["grid.push"],
    "manager": ["grid.push"],
    "market": ["grid.poll"],
    "admin": ["admin"],
}
"""Service clients when ``service_clients`` is unset (development only)."""


def _uri_list(value: Any) -> Any:
    """A list of URIs from JSON or a comma-separated string, kept exactly as written."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part for part in (p.strip() for p in text.split(",")) if part]
    return value


class AuthSettings(ServiceSettings):
    """The issuer: its clients, token lifetimes, login throttling and password hashing."""

    service_name: ClassVar[str] = "auth"
    default_port: ClassVar[int] = 8001

    redirect_uris: URLList = Field(
        default_factory=lambda: [f"{origin}/callback" for origin in DASHBOARD_ORIGINS],
        description="where the dashboard (public client) may receive codes; matched exactly",
    )
    post_logout_redirect_uris: URLList = Field(
        default_factory=lambda: [f"{origin}/" for origin in DASHBOARD_ORIGINS],
        description="where /logout may send the browser afterwards; matched exactly",
    )
    service_clients: dict[str, ServiceClientConfig] | None = Field(
        default=None,
        description="client_credentials clients, JSON {id: {secret, scopes}}; unset: "
        "development defaults with secrets derived from secret_key (refused in production)",
    )
    access_token_seconds: int = Field(default=600, ge=60, le=3600)
    refresh_token_seconds: int = Field(default=14 * 86_400, ge=3600, le=90 * 86_400)
    authorization_code_seconds: int = Field(default=60, ge=10, le=600)
    session_seconds: int = Field(
        default=12 * 3600, ge=300, le=30 * 86_400, description="login cookie lifetime"
    )
    login_max_failures: int = Field(default=5, ge=1, description="per account, in the window")
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="per client address, in the window"
    )
    login_window_seconds: float = Field(default=300.0, gt=0)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65_536, ge=8, le=4_194_304)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)
    online_window_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86_400,
        description="a user is online when signed in or refreshed within this (the dashboard "
        "refreshes its 10-minute access token before expiry)",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="an external OpenID Connect issuer users may sign in with (e.g. an Okta "
        "org); its discovery document is read from {oidc_issuer}/.well-known/openid-configuration",
    )
    oidc_client_id: str | None = Field(default=None, description="this suite's client there")
    oidc_client_secret: SecretStr | None = Field(default=None, description="and its secret")
    oidc_scopes: str = Field(
        default="openid profile email", description="scopes asked of the external issuer"
    )
    oidc_only: bool = Field(
        default=False, description="sign in only with the external issuer (no local passwords)"
    )

    _uris = field_validator("redirect_uris", "post_logout_redirect_uris", mode="before")(_uri_list)

    @field_validator("oidc_issuer", mode="after")
    @classmethod
    def _oidc_issuer(cls, value: str | None) -> str | None:
        # An empty variable unsets it; a trailing slash would break the discovery URL.
        stripped = (value or "").rstrip("/")
        return stripped or None

    @model_validator(mode="after")
    def _external_issuer_complete(self) -> AuthSettings:
        if self.oidc_issuer is None:
            if self.oidc_only:
                raise ValueError("auth: oidc_only needs oidc_issuer")
            return self
        if not self.oidc_client_id or self.oidc_client_secret is None:
            raise ValueError("auth: oidc_issuer needs oidc_client_id and oidc_client_secret")
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("auth: oidc_scopes must include 'openid'")
        if self.environment == "production" and not self.oidc_issuer.startswith("https://"):
            raise ValueError("auth: oidc_issuer must be an https URL in production")
        return self

    @field_validator("service_clients")
    @classmethod
    def _client_ids(
        cls, value: dict[str, ServiceClientConfig] | None
    ) -> dict[str, ServiceClientConfig] | None:
        import re

        for client_id in value or {}:
            if not re.fullmatch(CLIENT_ID_PATTERN, client_id):
                raise ValueError(f"invalid client id {client_id!r}")
        return value

    @model_validator(mode="after")
    def _refuse_weak_identity_in_production(self) -> AuthSettings:
        if self.password_hash_memory_kib < 8 * self.password_hash_parallelism:
            raise ValueError("password_hash_memory_kib must be at least 8 x parallelism")
        if self.environment != "production":
            return self
        if self.service_clients is None:
            raise ValueError(
                "auth: service_clients must be set in production "
                "(the development clients' secrets are derived from secret_key)"
            )
        for client_id, client in self.service_clients.items():
            if len(client.secret.get_secret_value()) < PRODUCTION_MIN_CLIENT_SECRET:
                raise ValueError(
                    f"auth: the secret of client {client_id!r} needs at least "
                    f"{PRODUCTION_MIN_CLIENT_SECRET} characters in production"
                )
        if (
            self.password_hash_memory_kib < PRODUCTION_MIN_HASH_MEMORY_KIB
            or self.password_hash_time_cost < PRODUCTION_MIN_HASH_TIME_COST
        ):
            raise ValueError(
                "auth: password hashing below Argon2id's recommended floor "
                f"({PRODUCTION_MIN_HASH_MEMORY_KIB} KiB, {PRODUCTION_MIN_HASH_TIME_COST} passes)"
            )
        return self

    def service_client_configs(self) -> dict[str, ServiceClientConfig]:
        """The configured service clients, or the development ones."""
        if self.service_clients is not None:
            return dict(self.service_clients)
        secret_key = self.secret_key.get_secret_value()
        return {
            client_id: ServiceClientConfig(
                secret=SecretStr(derive_client_secret(secret_key, client_id)), scopes=scopes
            )
            for client_id, scopes in DEVELOPMENT_SERVICE_SCOPES.items()
        }


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


def _repository_frontend_dist() -> Path:
    # services/common/settings.py -> the repository root, where frontend/ is built.
    return Path(__file__).resolve().parents[2] / "frontend" / "dist"


def _browser_url(url: str) -> str:
    """An absolute http(s) base URL that can stand in a Content-Security-Policy header."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    if any(char.isspace() or char in ";,'\"" for char in url) or parts.query or parts.fragment:
        raise ValueError(f"{url!r} must be a plain base URL (no spaces, ; , quotes, query)")
    return url.rstrip("/")


class DashboardSettings(ServiceSettings):
    """The dashboard's server: where the built app is and the URLs the browser calls."""

    service_name: ClassVar[str] = "dashboard"
    default_port: ClassVar[int] = 8000

    dist_dir: Path = Field(
        default_factory=_repository_frontend_dist,
        description="the built dashboard (index.html and assets/); the repository's "
        "frontend/dist by default",
    )
    manager_url: str = Field(default="http://127.0.0.1:8002", description="as the browser sees it")
    prosumer_url: str = Field(default="http://127.0.0.1:8003", description="as the browser sees it")
    market_url: str = Field(default="http://127.0.0.1:8004", description="as the browser sees it")
    simulation_url: str = Field(
        default="http://127.0.0.1:8005", description="as the browser sees it"
    )
    weather_url: str = Field(default="http://127.0.0.1:8006", description="as the browser sees it")

    _browser_urls = field_validator(
        "issuer_url",
        "manager_url",
        "prosumer_url",
        "market_url",
        "simulation_url",
        "weather_url",
        mode="after",
    )(_browser_url)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> DashboardSettings:
        # Replaces the base class's check: the dashboard serves files and public
        # configuration, and holds no secret or client credentials of its own.
        return self

    def service_urls(self) -> dict[str, str]:
        """Every service's browser-facing base URL, without a trailing slash; auth is the issuer."""
        return {
            "auth": self.issuer_url,
            "manager": self.manager_url,
            "prosumer": self.prosumer_url,
            "market": self.market_url,
            "simulation": self.simulation_url,
            "weather": self.weather_url,
        }
