"""The issuer as the other services see it: their verifier and token client against it."""

from __future__ import annotations

import httpx

from services.common.security import ServiceTokenClient, TokenVerifier
from tests.auth.conftest import ISSUER, PROSUMER_SECRET, Auth


def through_the_issuer(auth: Auth) -> httpx.AsyncClient:
    """An HTTP client whose every request reaches the in-process issuer."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=auth.app))


def verifier(auth: Auth, http: httpx.AsyncClient) -> TokenVerifier:
    return TokenVerifier(http, ISSUER, "gridmarket", clock=lambda: float(auth.now()))


async def test_a_users_token_is_accepted_by_the_suites_verifier(auth: Auth):
    profile = await auth.register()
    await auth.make_manager(profile["clientid"])
    tokens = await auth.sign_in()
    async with through_the_issuer(auth) as http:
        principal = await verifier(auth, http).verify(tokens["access_token"])
    assert principal.subject == profile["clientid"] and not principal.is_service
    assert principal.is_manager and principal.managers == {"coal-1"}
    assert principal.scopes == {"openid", "profile", "gridmarket"}


async def test_a_service_gets_and_uses_a_token_with_the_suites_client(auth: Auth):
    async with through_the_issuer(auth) as http:
        client = ServiceTokenClient(
            http, ISSUER, "prosumer", PROSUMER_SECRET, ["grid.push"], clock=lambda: auth.now()
        )
        principal = await verifier(auth, http).verify(await client.token())
    assert principal.is_service and principal.subject == "prosumer"
    assert principal.scopes == {"grid.push"}


async def test_the_verifier_follows_a_key_rotation(auth: Auth):
    await auth.register()
    async with through_the_issuer(auth) as http:
        suite_verifier = verifier(auth, http)
        before = await auth.sign_in()
        await suite_verifier.verify(before["access_token"])
        await auth.client.post("/api/keys/rotate", headers=await auth.as_admin())
        after = await auth.sign_in()
        await suite_verifier.verify(after["access_token"])
        await suite_verifier.verify(before["access_token"])
