"""Wire formats of the auth service: user profiles and the privileges they carry.

The shape is the original's: ``{username, clientid, managers, prosumers,
consumers, last_login}`` where a privilege is ``{level, access?, id}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_PRIVILEGES = 1_000

ClientId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
MemberId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class Privilege(BaseModel):
    """A right over one member (a plant of the manager service, or a prosumer)."""

    model_config = ConfigDict(extra="forbid")

    level: int = Field(ge=0, strict=True, description="how much the holder may do; 0 is least")
    access: str | None = Field(
        default=None, min_length=1, max_length=64, description="free-form kind of access"
    )
    id: MemberId = Field(description="id of the member the privilege is over")


def _unique_ids(values: list[Privilege] | list[str]) -> list[Privilege] | list[str]:
    ids = [value if isinstance(value, str) else value.id for value in values]
    repeated = sorted({member for member in ids if ids.count(member) > 1})
    if repeated:
        raise ValueError(f"ids repeated: {', '.join(repeated)}")
    return values


class Privileges(BaseModel):
    """What a profile may touch; every list holds each member id at most once."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    managers: list[Privilege] = Field(default_factory=list, max_length=MAX_PRIVILEGES)
    prosumers: list[Privilege] = Field(default_factory=list, max_length=MAX_PRIVILEGES)
    consumers: list[MemberId] = Field(
        default_factory=list, max_length=MAX_PRIVILEGES, description="consumer ids"
    )

    _unique = field_validator("managers", "prosumers", "consumers")(_unique_ids)


class ProfileCreate(Privileges):
    """A new profile, as the original's ``POST /api/login`` took it."""

    clientid: ClientId = Field(description="the user's id; will be the token subject")
    last_login: datetime | None = Field(
        default=None, description="accepted for compatibility and ignored: set by the service"
    )


class ProfileUpdate(Privileges):
    """A profile's new username and privileges, replacing the old ones.

    A profile as answered by GET may be sent back as it is: ``clientid`` must then
    name the profile in the path, and ``last_login`` is ignored.
    """

    clientid: ClientId | None = None
    last_login: datetime | None = None


class ProfilePublic(BaseModel):
    """A user profile: who the user is and what they may do."""

    username: str
    clientid: str
    managers: list[Privilege]
    prosumers: list[Privilege]
    consumers: list[str]
    last_login: datetime | None = Field(description="when the profile was created or last used")
