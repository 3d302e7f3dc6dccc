"""Wire format of the dashboard's runtime configuration (``GET /config.json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceUrls(BaseModel):
    """Browser-facing base URLs, without a trailing slash."""

    auth: str = Field(description="the OpenID Connect issuer")
    manager: str
    prosumer: str
    market: str
    simulation: str
    weather: str


class RuntimeConfig(BaseModel):
    """What the web app reads at start, so one build runs against any deployment."""

    model_config = ConfigDict(populate_by_name=True)

    client_id: str = Field(alias="clientId", description="the app's public client at the issuer")
    environment: Literal["development", "production"]
    services: ServiceUrls
