"""Bearer tokens checked against the issuer's keys, the route dependencies, service tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import ValidationError

from services.common.app import create_service_app
from services.common.errors import ForbiddenError, UnauthorizedError, UnavailableError
from services.common.runtime import service_runtime
from services.common.security import (
    IssuerAddress,
    OptionalPrincipalDep,
    Principal,
    PrincipalDep,
    ServiceTokenClient,
    TokenVerifier,
    derive_client_secret,
    require_manager,
    require_prosumer_access,
    require_scope,
)
from services.common.settings import ManagerSettings, ProsumerSettings
from tests.common.fake_issuer import FakeIssuer, ManualClock
from tests.conftest import serving

JWKS = "/jwks.json"
DISCOVERY = "/.well-known/openid-configuration"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def issuer(clock: ManualClock) -> FakeIssuer:
    return FakeIssuer(clock=clock)


@pytest.fixture
def verifier(issuer: FakeIssuer) -> TokenVerifier:
    return issuer.verifier()


async def refused(verifier: TokenVerifier, token: str) -> str:
    """The reason ``verifier`` gives for refusing ``token``."""
    with pytest.raises(UnauthorizedError) as refusal:
        await verifier.verify(token)
    assert refusal.value.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    return refusal.value.message


# -- valid tokens ------------------------------------------------------------------------------


async def test_a_user_token_gives_the_user_and_their_privileges(issuer, verifier):
    token = issuer.user_token("ada", prosumers=["p-1", "p-2"], managers=["coal-1"])
    principal = await verifier.verify(token)
    assert principal == Principal(
        subject="ada",
        client_id="dashboard",
        scopes=frozenset({"openid", "profile", "gridmarket"}),
        prosumers=frozenset({"p-1", "p-2"}),
        managers=frozenset({"coal-1"}),
        is_service=False,
    )
    assert principal.is_manager


async def test_a_user_without_manager_privileges_is_no_manager(issuer, verifier):
    principal = await verifier.verify(issuer.user_token("bob", prosumers=["p-1"]))
    assert not principal.is_manager and not principal.is_service


async def test_a_client_credentials_token_is_a_service(issuer, verifier):
    principal = await verifier.verify(issuer.service_token("market", scopes=["grid.poll"]))
    assert principal.is_service and not principal.is_manager
    assert principal.subject == principal.client_id == "market"
    assert principal.scopes == {"grid.poll"}
    assert principal.prosumers == principal.managers == frozenset()


async def test_a_token_expired_within_the_leeway_is_accepted(issuer, verifier, clock):
    token = issuer.user_token(exp=int(clock()) - 20)
    assert (await verifier.verify(token)).subject == "ada"


async def test_a_list_audience_containing_ours_is_accepted(issuer, verifier):
    token = issuer.user_token(aud=["billing", "gridmarket"])
    assert (await verifier.verify(token)).subject == "ada"


# -- refused tokens ----------------------------------------------------------------------------


async def test_a_token_expired_beyond_the_leeway_is_refused(issuer, verifier, clock):
    token = issuer.user_token(exp=int(clock()) - 31)
    assert await refused(verifier, token) == "token expired"


async def test_a_token_for_another_audience_is_refused(issuer, verifier):
    assert await refused(verifier, issuer.user_token(aud="someone-else")) == "wrong audience"


async def test_a_token_from_another_issuer_is_refused(issuer, verifier):
    token = issuer.user_token(iss="http://evil.test")
    assert await refused(verifier, token) == "wrong issuer"


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(issuer, verifier):
    forged = issuer.sign(
        issuer.user_claims(), key=issuer.stranger_key(), kid=issuer.signing_key.kid
    )
    assert await refused(verifier, forged) == "invalid signature"


async def test_an_unsigned_token_is_refused(issuer, verifier):
    token = issuer.unsigned(issuer.user_claims(managers=["coal-1"]))
    assert await refused(verifier, token) == "unsupported signature algorithm"


async def test_an_hs256_token_keyed_with_the_public_key_is_refused(issuer, verifier):
    token = issuer.hs256(issuer.user_claims(managers=["coal-1"]))
    assert await refused(verifier, token) == "unsupported signature algorithm"


@pytest.mark.parametrize(
    "garbage", ["", "not-a-token", "a.b.c", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9", "é.é.é", "x" * 9999]
)
async def test_garbage_is_refused(verifier, garbage):
    assert await refused(verifier, garbage) == "malformed token"


@pytest.mark.parametrize("typ", ["JWT", None])
async def test_a_token_not_typed_as_an_access_token_is_refused(issuer, verifier, typ):
    token = issuer.sign(issuer.user_claims(), typ=typ)
    assert await refused(verifier, token) == "not an access token"


async def test_a_token_without_a_kid_is_refused(issuer, verifier):
    token = issuer.sign(issuer.user_claims(), kid=None)
    assert await refused(verifier, token) == "token names no signing key"


@pytest.mark.parametrize("claim", ["sub", "client_id", "exp", "iat", "aud", "iss"])
async def test_a_token_lacking_a_required_claim_is_refused(issuer, verifier, claim):
    token = issuer.user_token(**{claim: None})
    assert await refused(verifier, token) == "token lacks required claims"


async def test_a_token_not_yet_valid_is_refused(issuer, verifier, clock):
    token = issuer.user_token(nbf=int(clock()) + 60)
    assert await refused(verifier, token) == "token not yet valid"


async def test_a_token_issued_in_the_future_is_refused(issuer, verifier, clock):
    token = issuer.user_token(iat=int(clock()) + 60)
    assert await refused(verifier, token) == "token issued in the future"


async def test_malformed_privilege_claims_are_refused(issuer, verifier):
    token = issuer.user_token(gm_prosumers="p-1")
    assert await refused(verifier, token) == "malformed claim 'gm_prosumers'"


# -- the key set: cache, rotation, rate limit, outages ----------------------------------------


async def test_keys_are_fetched_once_and_cached(issuer, verifier):
    for _ in range(3):
        await verifier.verify(issuer.user_token())
    assert issuer.hits[DISCOVERY] == 1 and issuer.hits[JWKS] == 1


async def test_nothing_is_fetched_before_the_first_token(issuer, verifier):
    assert not issuer.hits


async def test_an_unknown_kid_refetches_once_and_verifies_after_a_rotation(issuer, verifier, clock):
    await verifier.verify(issuer.user_token())
    clock.advance(31)
    issuer.rotate()
    principal = await verifier.verify(issuer.user_token("bob"))
    assert principal.subject == "bob"
    assert issuer.hits[JWKS] == 2 and issuer.hits[DISCOVERY] == 1


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(issuer, verifier, clock):
    await verifier.verify(issuer.user_token())
    clock.advance(31)
    strangers = [issuer.sign(issuer.user_claims(), key=issuer.stranger_key()) for _ in range(20)]
    for token in strangers:
        assert await refused(verifier, token) == "unknown signing key"
    assert issuer.hits[JWKS] == 2
    clock.advance(29)
    assert await refused(verifier, strangers[0]) == "unknown signing key"
    assert issuer.hits[JWKS] == 2
    clock.advance(2)
    assert await refused(verifier, strangers[0]) == "unknown signing key"
    assert issuer.hits[JWKS] == 3


async def test_concurrent_verifications_share_one_fetch(issuer, verifier):
    tokens = [issuer.user_token(f"user-{n}") for n in range(20)]
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [principal.subject for principal in principals] == [f"user-{n}" for n in range(20)]
    assert issuer.hits[DISCOVERY] == 1 and issuer.hits[JWKS] == 1


async def test_concurrent_unknown_kids_share_one_refetch(issuer, verifier, clock):
    await verifier.verify(issuer.user_token())
    clock.advance(31)
    strangers = [issuer.sign(issuer.user_claims(), key=issuer.stranger_key()) for _ in range(10)]
    outcomes = await asyncio.gather(
        *(verifier.verify(token) for token in strangers), return_exceptions=True
    )
    assert all(isinstance(outcome, UnauthorizedError) for outcome in outcomes)
    assert issuer.hits[JWKS] == 2


async def test_an_unknown_kid_right_after_a_fetch_does_not_refetch(issuer, verifier, clock):
    await verifier.verify(issuer.user_token())
    clock.advance(29)
    issuer.rotate()
    assert await refused(verifier, issuer.user_token()) == "unknown signing key"
    assert issuer.hits[JWKS] == 1


async def test_a_down_issuer_does_not_stop_verification_with_cached_keys(issuer, verifier, clock):
    await verifier.verify(issuer.user_token())
    issuer.down = True
    clock.advance(60)
    assert (await verifier.verify(issuer.user_token("bob"))).subject == "bob"
    stranger = issuer.sign(issuer.user_claims(), key=issuer.stranger_key())
    assert await refused(verifier, stranger) == "unknown signing key"


async def test_a_down_issuer_without_cached_keys_is_503(issuer, verifier):
    issuer.down = True
    with pytest.raises(UnavailableError):
        await verifier.verify(issuer.user_token())


async def test_verification_recovers_when_the_issuer_comes_back(issuer, verifier):
    issuer.down = True
    with pytest.raises(UnavailableError):
        await verifier.verify(issuer.user_token())
    issuer.down = False
    assert (await verifier.verify(issuer.user_token())).subject == "ada"


async def test_a_discovery_document_naming_another_issuer_is_not_trusted(issuer):
    verifier = TokenVerifier(issuer.client(), "http://elsewhere.test", "gridmarket")
    with pytest.raises(UnavailableError):
        await verifier.verify(issuer.user_token(iss="http://elsewhere.test"))


# -- an issuer reached at an internal URL (docker-compose) ------------------------------------

PUBLIC_ISSUER = "http://localhost:8001"
"""Where browsers reach the issuer: the URL tokens name."""
INTERNAL_ISSUER = "http://auth:8001"
"""Where the services reach it; the public URL does not answer from inside."""


@pytest.fixture
def composed(clock: ManualClock) -> FakeIssuer:
    """An issuer that names its public URL but answers only at its internal one."""
    return FakeIssuer(PUBLIC_ISSUER, clock=clock, reachable_at=[INTERNAL_ISSUER])


async def test_with_an_internal_url_tokens_naming_the_public_issuer_verify(composed, clock):
    verifier = TokenVerifier(
        composed.client(), PUBLIC_ISSUER, "gridmarket", internal_url=INTERNAL_ISSUER, clock=clock
    )
    assert (await verifier.verify(composed.user_token("ada"))).subject == "ada"
    assert composed.origins == {INTERNAL_ISSUER: 2}  # discovery, then the JWKS it names


async def test_without_the_internal_url_an_issuer_answering_only_inside_is_unavailable(
    composed, clock
):
    verifier = TokenVerifier(composed.client(), PUBLIC_ISSUER, "gridmarket", clock=clock)
    with pytest.raises(UnavailableError):
        await verifier.verify(composed.user_token())
    assert set(composed.origins) == {PUBLIC_ISSUER}


async def test_with_an_internal_url_a_token_naming_the_internal_url_is_refused(composed, clock):
    verifier = TokenVerifier(
        composed.client(), PUBLIC_ISSUER, "gridmarket", internal_url=INTERNAL_ISSUER, clock=clock
    )
    assert await refused(verifier, composed.user_token(iss=INTERNAL_ISSUER)) == "wrong issuer"


async def test_with_an_internal_url_a_discovery_naming_another_issuer_is_refused(composed, clock):
    verifier = TokenVerifier(
        composed.client(),
        "https://grid.example.org",
        "gridmarket",
        internal_url=INTERNAL_ISSUER,
        clock=clock,
    )
    with pytest.raises(UnavailableError):
        await verifier.verify(composed.user_token(iss="https://grid.example.org"))
    assert composed.hits[JWKS] == 0


async def test_with_an_internal_url_service_tokens_are_fetched_through_it(composed, clock):
    composed.register_client("prosumer", "s3cret", ["grid.push"])
    client = ServiceTokenClient(
        composed.client(),
        PUBLIC_ISSUER,
        "prosumer",
        "s3cret",
        ["grid.push"],
        internal_url=INTERNAL_ISSUER,
        clock=clock,
    )
    token = await client.token()
    assert composed.origins == {INTERNAL_ISSUER: 2}  # discovery, then the token endpoint
    verifier = TokenVerifier(
        composed.client(), PUBLIC_ISSUER, "gridmarket", internal_url=INTERNAL_ISSUER, clock=clock
    )
    assert (await verifier.verify(token)).subject == "prosumer"


async def test_with_an_internal_url_a_token_client_refuses_a_discovery_of_another_issuer(
    composed, clock
):
    composed.register_client("prosumer", "s3cret", ["grid.push"])
    client = ServiceTokenClient(
        composed.client(),
        "https://grid.example.org",
        "prosumer",
        "s3cret",
        ["grid.push"],
        internal_url=INTERNAL_ISSUER,
        clock=clock,
    )
    with pytest.raises(UnavailableError):
        await client.token()
    assert composed.hits["/token"] == 0


@pytest.mark.parametrize(
    ("endpoint", "reached_at"),
    [
        (f"{PUBLIC_ISSUER}/jwks.json", f"{INTERNAL_ISSUER}/jwks.json"),
        (f"{PUBLIC_ISSUER}/oauth/token?x=1", f"{INTERNAL_ISSUER}/oauth/token?x=1"),
        (PUBLIC_ISSUER, INTERNAL_ISSUER),
        # Only endpoints under the issuer's URL move; a look-alike or another host stays.
        ("http://localhost:80010/jwks.json", "http://localhost:80010/jwks.json"),
        ("https://keys.example.org/jwks.json", "https://keys.example.org/jwks.json"),
    ],
)
def test_only_endpoints_under_the_public_issuer_url_move_to_the_internal_one(endpoint, reached_at):
    issuer = IssuerAddress.of(PUBLIC_ISSUER + "/", INTERNAL_ISSUER + "/")
    assert issuer.reach(endpoint) == reached_at


@pytest.mark.parametrize("internal_url", [None, ""])
def test_without_an_internal_url_the_issuer_is_reached_at_its_own_url(internal_url):
    issuer = IssuerAddress.of(PUBLIC_ISSUER, internal_url)
    assert issuer.internal_url == PUBLIC_ISSUER
    assert issuer.reach(f"{PUBLIC_ISSUER}/jwks.json") == f"{PUBLIC_ISSUER}/jwks.json"


# -- the route dependencies --------------------------------------------------------------------


def make_guarded_app(verifier: TokenVerifier) -> FastAPI:
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(principal: PrincipalDep) -> dict[str, Any]:
        return {"subject": principal.subject, "service": principal.is_service}

    @router.get("/maybe")
    async def maybe(principal: OptionalPrincipalDep) -> dict[str, Any]:
        return {"subject": principal.subject if principal else None}

    @router.post("/cells")
    async def push(principal: PrincipalDep) -> dict[str, str]:
        require_scope(principal, "grid.push")
        return {"status": "ok"}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = SimpleNamespace(verifier=verifier)
        yield

    return create_service_app(title="t", description="t", lifespan=lifespan, routers=[router])


@pytest.fixture
async def guarded(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(make_guarded_app(verifier)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_route_answers_the_token_holder(guarded, issuer):
    response = await guarded.get("/whoami", headers=bearer(issuer.user_token("ada")))
    assert response.status_code == 200
    assert response.json() == {"subject": "ada", "service": False}


async def test_a_route_without_a_token_is_401_with_a_bearer_challenge(guarded):
    response = await guarded.get("/whoami")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


async def test_a_route_with_a_bad_token_is_401_invalid_token(guarded, issuer):
    response = await guarded.get("/whoami", headers=bearer(issuer.user_token(aud="other")))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == {"error": "unauthorized", "detail": "wrong audience"}


async def test_another_authorization_scheme_is_401_invalid_token(guarded):
    response = await guarded.get("/whoami", headers={"Authorization": "Basic YWRhOnB3"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_an_optional_principal_is_none_without_a_token(guarded):
    response = await guarded.get("/maybe")
    assert response.status_code == 200 and response.json() == {"subject": None}


async def test_an_optional_principal_still_refuses_a_bad_token(guarded, issuer):
    response = await guarded.get("/maybe", headers=bearer(issuer.unsigned(issuer.user_claims())))
    assert response.status_code == 401


async def test_an_optional_principal_is_the_token_holder(guarded, issuer):
    response = await guarded.get("/maybe", headers=bearer(issuer.service_token("market")))
    assert response.json() == {"subject": "market"}


async def test_a_missing_scope_is_403_insufficient_scope(guarded, issuer):
    token = issuer.service_token("market", scopes=["grid.poll"])
    response = await guarded.post("/cells", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="grid.push"'
    )
    assert (
        await guarded.post("/cells", headers=bearer(issuer.service_token("prosumer")))
    ).status_code == 200


async def test_the_issuer_being_down_on_first_use_is_503(guarded, issuer):
    issuer.down = True
    response = await guarded.get("/whoami", headers=bearer(issuer.user_token()))
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


async def test_the_bearer_scheme_is_in_the_openapi_document(guarded):
    schemes = (await guarded.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


# -- require_* ---------------------------------------------------------------------------------


def make_principal(**overrides: Any) -> Principal:
    fields: dict[str, Any] = {
        "subject": "ada",
        "client_id": "dashboard",
        "scopes": frozenset({"openid", "gridmarket"}),
        "prosumers": frozenset({"p-1"}),
        "managers": frozenset(),
    }
    fields.update(overrides)
    return Principal(**fields)


def test_require_scope_passes_with_the_scope():
    require_scope(make_principal(), "gridmarket")


def test_require_scope_refuses_without_it():
    with pytest.raises(ForbiddenError):
        require_scope(make_principal(), "grid.push")


def test_require_manager_passes_a_manager():
    require_manager(make_principal(managers=frozenset({"coal-1"})))


@pytest.mark.parametrize(
    "principal",
    [make_principal(), make_principal(subject="market", client_id="market", is_service=True)],
)
def test_require_manager_refuses_anyone_else(principal):
    with pytest.raises(ForbiddenError):
        require_manager(principal)


def test_a_prosumer_user_may_act_on_their_own_prosumers():
    require_prosumer_access(make_principal(), "p-1")


def test_a_prosumer_user_may_not_act_on_others():
    with pytest.raises(ForbiddenError):
        require_prosumer_access(make_principal(), "p-2")


def test_a_manager_may_act_on_any_prosumer():
    require_prosumer_access(make_principal(prosumers=frozenset(), managers={"coal-1"}), "p-9")


# -- ServiceTokenClient ------------------------------------------------------------------------


@pytest.fixture
def token_client(issuer: FakeIssuer, clock: ManualClock) -> ServiceTokenClient:
    issuer.register_client("prosumer", "s3cret", ["grid.push", "grid.poll"])
    return ServiceTokenClient(
        issuer.client(), issuer.url, "prosumer", "s3cret", ["grid.push"], clock=clock
    )


async def test_a_service_token_names_the_service_and_its_scopes(token_client, verifier):
    headers = await token_client.headers()
    scheme, token = headers["Authorization"].split(" ")
    principal = await verifier.verify(token)
    assert scheme == "Bearer"
    assert principal.is_service and principal.subject == "prosumer"
    assert principal.scopes == {"grid.push"}


async def test_a_service_token_is_cached(token_client, issuer, clock):
    first = await token_client.headers()
    clock.advance(600 - 61)
    assert await token_client.headers() == first
    assert issuer.hits["/token"] == 1 and issuer.hits[DISCOVERY] == 1


async def test_a_service_token_is_renewed_a_minute_before_it_expires(token_client, issuer, clock):
    first = await token_client.token()
    clock.advance(600 - 59)
    assert await token_client.token() != first
    assert issuer.hits["/token"] == 2 and issuer.hits[DISCOVERY] == 1


async def test_an_invalidated_service_token_is_renewed(token_client, issuer):
    first = await token_client.token()
    token_client.invalidate()
    assert await token_client.token() != first


async def test_concurrent_callers_share_one_token_request(token_client, issuer):
    tokens = await asyncio.gather(*(token_client.token() for _ in range(10)))
    assert len(set(tokens)) == 1 and issuer.hits["/token"] == 1


async def test_a_refused_client_gets_no_token(issuer, clock):
    issuer.register_client("prosumer", "s3cret", ["grid.push"])
    client = ServiceTokenClient(issuer.client(), issuer.url, "prosumer", "wrong", ["grid.push"])
    with pytest.raises(UnavailableError):
        await client.headers()


async def test_no_token_while_the_issuer_is_down(token_client, issuer):
    issuer.down = True
    with pytest.raises(UnavailableError):
        await token_client.headers()


async def test_a_service_token_client_from_settings_uses_the_derived_secret(issuer, verifier):
    settings = ProsumerSettings(issuer_url=issuer.url)
    issuer.register_client("prosumer", derive_client_secret("change-me", "prosumer"), ["grid.push"])
    client = ServiceTokenClient.for_service(issuer.client(), settings, ["grid.push"])
    principal = await verifier.verify(await client.token())
    assert principal.subject == "prosumer"


# -- settings ----------------------------------------------------------------------------------


def test_the_client_id_is_the_service_name_by_default():
    assert ManagerSettings().client_id == "manager"
    assert ProsumerSettings().client_id == "prosumer"


def test_the_development_client_secret_derives_from_the_secret_key_and_client_id():
    settings = ManagerSettings(secret_key="k", client_id="manager-north")
    assert settings.client_secret.get_secret_value() == derive_client_secret("k", "manager-north")
    assert derive_client_secret("k", "manager-north") != derive_client_secret("k", "manager")
    assert derive_client_secret("k", "manager") != derive_client_secret("other", "manager")


def test_production_refuses_the_derived_client_secret(monkeypatch):
    monkeypatch.setenv("MANAGER_ENVIRONMENT", "production")
    monkeypatch.setenv("MANAGER_SECRET_KEY", "a-real-secret")
    with pytest.raises(ValidationError, match="client_secret must be set"):
        ManagerSettings()
    monkeypatch.setenv("MANAGER_CLIENT_SECRET", "registered-at-the-issuer")
    assert ManagerSettings().client_secret.get_secret_value() == "registered-at-the-issuer"


def test_the_issuer_url_is_read_suite_wide(monkeypatch):
    monkeypatch.setenv("GRIDMARKET_ISSUER_URL", "https://id.example.org/")
    monkeypatch.setenv("PROSUMER_ISSUER_URL", "https://prosumer-id.example.org")
    assert ManagerSettings().issuer_url == "https://id.example.org"
    assert ProsumerSettings().issuer_url == "https://prosumer-id.example.org"


def test_the_issuer_internal_url_is_read_suite_wide(monkeypatch):
    assert ManagerSettings().issuer_internal_url is None
    monkeypatch.setenv("GRIDMARKET_ISSUER_INTERNAL_URL", "http://auth:8001/")
    monkeypatch.setenv("PROSUMER_ISSUER_INTERNAL_URL", "")
    assert ManagerSettings().issuer_internal_url == "http://auth:8001"
    assert ProsumerSettings().issuer_internal_url is None  # empty: reached at issuer_url


async def test_a_service_token_client_from_settings_reaches_the_internal_url(composed):
    settings = ProsumerSettings(issuer_url=PUBLIC_ISSUER, issuer_internal_url=INTERNAL_ISSUER)
    composed.register_client(
        "prosumer", derive_client_secret("change-me", "prosumer"), ["grid.push"]
    )
    client = ServiceTokenClient.for_service(composed.client(), settings, ["grid.push"])
    await client.token()
    assert set(composed.origins) == {INTERNAL_ISSUER}


def test_cors_origins_are_read_comma_separated(monkeypatch):
    monkeypatch.setenv("MANAGER_CORS_ORIGINS", "https://grid.example.org/, https://ops.example.org")
    assert ManagerSettings().cors_origins == ["https://grid.example.org", "https://ops.example.org"]
    assert ProsumerSettings().cors_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]


async def test_the_runtime_carries_a_verifier_of_the_configured_issuer(tmp_path):
    settings = ManagerSettings(data_dir=tmp_path, issuer_url="http://id.test/", audience="grid")
    async with service_runtime(settings) as runtime:
        assert runtime.verifier is not None
        assert (runtime.verifier.issuer_url, runtime.verifier.audience) == (
            "http://id.test",
            "grid",
        )


async def test_the_runtime_verifier_reaches_the_issuer_at_the_internal_url(tmp_path):
    settings = ManagerSettings(
        data_dir=tmp_path, issuer_url=PUBLIC_ISSUER, issuer_internal_url=INTERNAL_ISSUER
    )
    async with service_runtime(settings) as runtime:
        assert runtime.verifier is not None
        assert runtime.verifier.issuer == IssuerAddress(PUBLIC_ISSUER, INTERNAL_ISSUER)


def test_an_administrator_client_counts_as_a_manager_of_everything():
    from services.common.security import (
        Principal,
        require_manager,
        require_manager_or_scope,
        require_plant_access,
        require_prosumer_access,
    )

    admin = Principal(
        subject="admin",
        client_id="admin",
        scopes=frozenset({"admin"}),
        prosumers=frozenset(),
        managers=frozenset(),
        is_service=True,
    )
    require_manager(admin)
    require_plant_access(admin, "coal-1")
    require_prosumer_access(admin, "house-01")
    require_manager_or_scope(admin, "grid.push")


def test_a_plant_privilege_covers_that_plant_only():
    from services.common.errors import ForbiddenError
    from services.common.security import Principal, require_plant_access

    manager = Principal(
        subject="m",
        client_id="dash",
        scopes=frozenset(),
        prosumers=frozenset(),
        managers=frozenset({"coal-1"}),
        is_service=False,
    )
    require_plant_access(manager, "coal-1")
    with pytest.raises(ForbiddenError):
        require_plant_access(manager, "coal-2")


def test_a_pushing_service_may_do_what_its_scope_allows_and_nothing_else():
    from services.common.errors import ForbiddenError
    from services.common.security import Principal, require_manager, require_manager_or_scope

    pusher = Principal(
        subject="prosumer",
        client_id="prosumer",
        scopes=frozenset({"grid.push"}),
        prosumers=frozenset(),
        managers=frozenset(),
        is_service=True,
    )
    require_manager_or_scope(pusher, "grid.push")
    with pytest.raises(ForbiddenError):
        require_manager_or_scope(pusher, "grid.poll")
    with pytest.raises(ForbiddenError):
        require_manager(pusher)
