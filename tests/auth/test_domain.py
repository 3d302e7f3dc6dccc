"""The issuer's rules without a server: PKCE, scopes, passwords, throttling, keys, settings,
online status and the naming of external users."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from services.auth.domain import (
    LoginThrottle,
    digest,
    external_clientid,
    external_username,
    is_manager,
    is_online,
    numbered_username,
    parse_scope,
    password_problem,
    pkce_matches,
)
from services.auth.keys import InvalidTokenError, KeyRing, SigningKey, seal, unseal
from services.common.settings import AuthSettings
from tests.auth.conftest import SERVICE_CLIENTS, pkce_pair

# -- PKCE and scopes -----------------------------------------------------------------------------


def test_the_verifier_of_a_challenge_matches_it():
    verifier, challenge = pkce_pair()
    assert pkce_matches(verifier, challenge)


def test_another_verifier_does_not_match():
    _, challenge = pkce_pair()
    other, _ = pkce_pair()
    assert not pkce_matches(other, challenge)


def test_the_rfc_7636_example_matches():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "has space" * 6])
def test_a_malformed_verifier_never_matches(verifier: str):
    assert not pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


def test_scopes_are_split_deduplicated_and_checked():
    assert parse_scope("openid  profile openid") == ["openid", "profile"]
    assert parse_scope(None) == [] and parse_scope("") == []
    assert parse_scope('bad"scope') is None


def test_digests_are_sha256_hex():
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# -- passwords and privileges --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [("123456789", "at least 10"), ("x" * 257, "at most 256"), ("AdaLovelace", "username")],
)
def test_unacceptable_passwords_say_why(password: str, problem: str):
    reason = password_problem(password, "adalovelace")
    assert reason is not None and problem in reason


def test_a_long_enough_password_is_acceptable():
    assert password_problem("correct horse battery", "ada") is None


def test_a_manager_holds_a_manager_privilege_at_level_2_or_more():
    assert is_manager([0, 2]) and not is_manager([1]) and not is_manager([])


# -- throttling ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_refused_after_max_failures_until_the_oldest_leaves_the_window():
    clock = Clock()
    throttle = LoginThrottle(3, 300, clock)
    for _ in range(3):
        assert throttle.retry_after("ada") == 0
        throttle.failed("ada")
        clock.now += 10
    assert throttle.retry_after("ada") == pytest.approx(270)
    clock.now += 270
    assert throttle.retry_after("ada") == 0


def test_failures_spread_beyond_the_window_never_lock():
    clock = Clock()
    throttle = LoginThrottle(3, 300, clock)
    for _ in range(10):
        throttle.failed("ada")
        clock.now += 151
    assert throttle.retry_after("ada") == 0


def test_a_success_clears_the_count():
    throttle = LoginThrottle(2, 300, Clock())
    throttle.failed("ada")
    throttle.succeeded("ada")
    throttle.failed("ada")
    assert throttle.retry_after("ada") == 0


def test_stale_keys_are_forgotten():
    clock = Clock()
    throttle = LoginThrottle(1, 10, clock)
    for n in range(LoginThrottle._PRUNE_ABOVE):
        throttle.failed(f"user{n}")
    clock.now += 11
    throttle.failed("last")
    assert len(throttle._failures) == 1


# -- keys ----------------------------------------------------------------------------------------


def test_a_sealed_key_opens_with_the_same_secret_only():
    key = SigningKey.generate(0.0, sequence=0)
    sealed = seal(key, "secret one")
    opened = unseal(sealed, "secret one")
    assert opened is not None and opened.thumbprint() == key.key.thumbprint()
    assert unseal(sealed, "secret two") is None
    assert unseal("not a jwe", "secret one") is None


def ring_with_a_token() -> tuple[KeyRing, str]:
    ring = KeyRing.started([], now=0.0, retention_s=630)
    claims = {"iss": "i", "aud": "a", "sub": "s", "iat": 0, "exp": 600}
    return ring, ring.sign(claims, typ="at+jwt")


def test_a_ring_verifies_what_it_signed():
    ring, token = ring_with_a_token()
    assert ring.verify(token, now=10, issuer="i", audience="a", typ="at+jwt")["sub"] == "s"


@pytest.mark.parametrize(
    "expectation",
    [{"issuer": "other"}, {"audience": "other"}, {"typ": "JWT"}, {"now": 600 + 31}],
)
def test_a_ring_refuses_a_token_for_another_issuer_audience_type_or_time(expectation: dict):
    ring, token = ring_with_a_token()
    arguments = {"now": 10, "issuer": "i", "audience": "a", "typ": "at+jwt"} | expectation
    with pytest.raises(InvalidTokenError):
        ring.verify(token, **arguments)


def test_a_ring_refuses_a_token_another_ring_signed():
    _, token = ring_with_a_token()
    other = KeyRing.started([], now=0.0, retention_s=630)
    with pytest.raises(InvalidTokenError):
        other.verify(token, now=10, issuer="i", audience="a", typ="at+jwt")


def test_a_started_ring_publishes_the_next_key_before_it_signs():
    ring = KeyRing.started([], now=0.0, retention_s=630)
    current, upcoming = ring.published(0.0)
    assert ring.current == current
    assert ring.rotated(now=10.0).current.kid == upcoming.kid


def test_a_rotated_ring_still_verifies_what_the_retired_key_signed():
    ring, token = ring_with_a_token()
    rotated = ring.rotated(now=100.0)
    assert rotated.current.kid != ring.current.kid
    assert rotated.verify(token, now=200, issuer="i", audience="a", typ="at+jwt")
    assert ring.current.kid in [k.kid for k in rotated.published(100.0 + 629)]
    assert ring.current.kid not in [k.kid for k in rotated.published(100.0 + 630)]


def test_rotations_follow_the_order_keys_were_made_in_even_at_one_instant():
    ring = KeyRing.started([], now=0.0, retention_s=630)
    first_next = ring.published(0.0)[1]
    once = ring.rotated(now=0.0)
    twice = once.rotated(now=0.0)
    assert once.current.kid == first_next.kid
    assert twice.current.kid == once.published(0.0)[1].kid


# -- settings ------------------------------------------------------------------------------------


PRODUCTION = {
    "environment": "production",
    "secret_key": "not-the-default-secret",
    "client_secret": "not-the-default-client-secret",
}


def test_production_refuses_the_development_service_clients():
    with pytest.raises(ValidationError, match="service_clients"):
        AuthSettings(**PRODUCTION)


def test_production_refuses_short_client_secrets():
    clients = {"prosumer": {"secret": "short", "scopes": ["grid.push"]}}
    with pytest.raises(ValidationError, match="16 characters"):
        AuthSettings(**PRODUCTION, service_clients=clients)


def test_production_refuses_cheap_password_hashing():
    with pytest.raises(ValidationError, match="Argon2id"):
        AuthSettings(**PRODUCTION, service_clients=SERVICE_CLIENTS, password_hash_time_cost=1)


def test_production_accepts_configured_clients():
    settings = AuthSettings(**PRODUCTION, service_clients=SERVICE_CLIENTS)
    assert set(settings.service_client_configs()) == set(SERVICE_CLIENTS)


def test_development_defaults_give_prosumer_manager_market_and_admin_clients():
    configs = AuthSettings().service_client_configs()
    assert {client: config.scopes for client, config in configs.items()} == {
        "prosumer": ["grid.push"],
        "manager": ["grid.push"],
        "market": ["grid.poll"],
        "admin": ["admin"],
    }


def test_service_clients_and_redirect_uris_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "AUTH_SERVICE_CLIENTS", '{"weather": {"secret": "s3cret", "scopes": ["grid.poll"]}}'
    )
    monkeypatch.setenv("AUTH_REDIRECT_URIS", "https://grid.example/callback/,http://x/cb")
    settings = AuthSettings()
    assert settings.service_clients is not None
    assert settings.service_clients["weather"].secret.get_secret_value() == "s3cret"
    assert settings.redirect_uris == ["https://grid.example/callback/", "http://x/cb"]


@pytest.mark.parametrize(
    "clients", [{"bad id": {"secret": "x"}}, {"ok": {"secret": "x", "scopes": ['bad"scope']}}]
)
def test_malformed_service_clients_are_refused(clients: dict):
    with pytest.raises(ValidationError):
        AuthSettings(service_clients=clients)


# -- online status -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_seen_s", "now_s", "live", "online"),
    [
        (1000.0, 1900.0, True, True),  # seen 900 s ago: the edge of the window
        (1000.0, 1901.0, True, False),  # just past it
        (1000.0, 1000.0, False, False),  # signed out: no live session or refresh token
        (None, 1000.0, True, False),  # never seen
    ],
)
def test_online_means_a_live_grant_seen_within_the_window(last_seen_s, now_s, live, online):
    assert is_online(last_seen_s, now_s, 900.0, has_live_grant=live) is online


# -- external users ------------------------------------------------------------------------------


def test_an_external_clientid_is_stable_and_a_valid_id():
    clientid = external_clientid("https://dev-1.okta.com", "00u1/ada ü")
    assert clientid == external_clientid("https://dev-1.okta.com", "00u1/ada ü")
    assert re.fullmatch(r"ext-[0-9a-f]{32}", clientid)


def test_the_same_sub_of_another_issuer_is_another_user():
    assert external_clientid("https://a.example", "42") != external_clientid(
        "https://b.example", "42"
    )


@pytest.mark.parametrize(
    ("claims", "username"),
    [
        ({"preferred_username": "ada", "email": "a@x.org", "name": "Ada"}, "ada"),
        ({"email": "ada@example.org", "name": "Ada"}, "ada@example.org"),
        ({"name": "Åsa Öberg"}, "Asa_Oberg"),
        ({"preferred_username": "  ", "name": "李"}, "user"),
        ({"preferred_username": 42}, "user"),
        ({}, "user"),
    ],
)
def test_an_external_username_comes_from_the_first_usable_claim(claims, username):
    assert external_username(claims) == username


def test_a_long_external_username_leaves_room_for_a_number():
    stem = external_username({"name": "x" * 200})
    assert len(numbered_username(stem, 12)) <= 64
    assert numbered_username(stem, 1) == stem and numbered_username("ada", 2) == "ada-2"
