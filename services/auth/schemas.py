"""Wire formats of the auth service: profiles, accounts, and the OpenID Connect messages.

A profile keeps the original's shape: ``{username, clientid, managers, prosumers,
consumers, last_login}`` where a privilege is ``{level, access?, id}``. The
protocol messages (discovery, JWKS, token answers and OAuth errors) follow
their RFCs, not the suite's error shape, so that any OAuth client understands them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.auth.domain import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USERNAME_PATTERN

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


class UserInfo(ProfilePublic):
    """The caller's profile, with the OpenID Connect names of who they are."""

    sub: str = Field(description="the token's subject: the profile's clientid")
    preferred_username: str


class ProsumerStatus(BaseModel):
    """Whether the user holding a privilege over a prosumer is online now."""

    prosumer_id: str = Field(description="the prosumer the privilege is over")
    clientid: str = Field(description="the profile holding the privilege")
    username: str
    online: bool = Field(
        description="signed in (a live session or refresh token) and seen within "
        "online_window_seconds"
    )
    last_login: datetime | None = Field(description="the profile's last sign-in")
    last_seen: datetime | None = Field(
        description="the last sign-in or token refresh; null if never seen"
    )


# -- accounts ------------------------------------------------------------------------------------

Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
    ),
]
AccountName = Annotated[
    str,
    StringConstraints(pattern=USERNAME_PATTERN),
    Field(description="3 to 64 of A-Z a-z 0-9 _ . @ + -; unique whatever the case"),
]


class Registration(BaseModel):
    """A new account: its profile starts without privileges."""

    model_config = ConfigDict(extra="forbid")

    username: AccountName
    password: Password


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: Password


class Done(BaseModel):
    """What was done, in words."""

    detail: str


class KeyRotation(BaseModel):
    kid: str = Field(description="the key that signs from now on")
    published: list[str] = Field(description="every key id in the JWKS, current first")


# -- OpenID Connect ------------------------------------------------------------------------------


class Discovery(BaseModel):
    """OpenID Connect Discovery 1.0 metadata of the issuer."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    end_session_endpoint: str
    userinfo_endpoint: str
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    subject_types_supported: list[str]
    scopes_supported: list[str]
    claims_supported: list[str]
    authorization_response_iss_parameter_supported: bool


class Jwks(BaseModel):
    """The public keys that verify the issuer's tokens (RFC 7517)."""

    keys: list[dict[str, Any]]


class TokenResponse(BaseModel):
    """A successful answer of the token endpoint (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds the access token lives")
    scope: str
    refresh_token: str | None = Field(default=None, description="user grants only")
    id_token: str | None = Field(default=None, description="when the scope has 'openid'")


class OAuthErrorBody(BaseModel):
    """An OAuth 2.0 error (RFC 6749 section 5.2), the shape OAuth clients expect."""

    error: str
    error_description: str | None = None


class TokenRequest(BaseModel):
    """The form of ``POST /token`` (application/x-www-form-urlencoded); fields per grant."""

    grant_type: Literal["authorization_code", "refresh_token", "client_credentials"]
    code: str | None = Field(default=None, description="authorization_code")
    redirect_uri: str | None = Field(default=None, description="authorization_code")
    code_verifier: str | None = Field(default=None, description="authorization_code (PKCE)")
    refresh_token: str | None = Field(default=None, description="refresh_token")
    scope: str | None = Field(default=None, description="refresh_token, client_credentials")
    client_id: str | None = Field(default=None, description="public client, or client_secret_post")
    client_secret: str | None = Field(default=None, description="client_secret_post")


class RevocationRequest(BaseModel):
    """The form of ``POST /revoke`` (RFC 7009), with the client's authentication."""

    token: str
    token_type_hint: Literal["refresh_token", "access_token"] | None = None
    client_id: str | None = None
    client_secret: str | None = None


class AuthorizeQuery(BaseModel):
    """An authorization request (RFC 6749 section 4.1.1, RFC 7636, OpenID Connect Core 3.1.2.1)."""

    response_type: Literal["code"]
    client_id: str = Field(description="gridmarket-dashboard")
    redirect_uri: str = Field(description="one of the registered redirect URIs, exactly")
    code_challenge: str = Field(description="BASE64URL(SHA-256(code_verifier)), 43 characters")
    code_challenge_method: Literal["S256"]
    scope: str | None = Field(default=None, description="among openid profile gridmarket")
    state: str | None = Field(default=None, max_length=512)
    nonce: str | None = Field(default=None, max_length=512)
    prompt: str | None = Field(default=None, description="none, or login to ask again")


class LoginForm(AuthorizeQuery):
    """The login page's form: the authorization request, the credentials, the form token."""

    username: str
    password: str
    csrf_token: str = Field(description="the value of the page's gm_csrf cookie")


class RegistrationForm(BaseModel):
    """The registration page's form; a sign-in in progress rides along in its fields."""

    username: str
    password: str
    password_confirm: str
    csrf_token: str = Field(description="the value of the page's gm_csrf cookie")


class LogoutQuery(BaseModel):
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""

    id_token_hint: str | None = Field(default=None, description="an ID token of the session")
    post_logout_redirect_uri: str | None = Field(
        default=None, description="where to go afterwards; only a registered URI is followed"
    )
    state: str | None = None


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting query parameters that a route reads itself."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {key: value for key, value in field.items() if key != "description"},
                "description": field.get("description", ""),
            }
            for name, field in schema["properties"].items()
        ]
    }


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a form-encoded body that a route parses itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": model.model_json_schema()}},
        }
    }
