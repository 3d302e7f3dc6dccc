"""The issuer's records on every storage backend: families by subject, expiry, partitions,
who holds a live grant and when users were last seen."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.auth.domain import Account, LoginSession, RefreshToken, TokenFamily
from services.auth.repository import AccountRepository, GrantRepository
from services.common.storage import Storage


def make_family(family_id: str = "f1", **overrides: Any) -> TokenFamily:
    family = TokenFamily(
        family_id=family_id,
        subject="ada",
        client_id="gridmarket-dashboard",
        scope="openid",
        session_id="s1",
        auth_time=100.0,
        expires_at=1000.0,
    )
    return replace(family, **overrides)


async def test_live_families_are_found_by_subject_and_by_session(storage: Storage):
    grants = GrantRepository(storage, "default")
    await grants.put_family(make_family("f1"))
    await grants.put_family(make_family("f2", revoked=True))
    await grants.put_family(make_family("f3", subject="bob", session_id="s2"))
    assert [f.family_id for f in await grants.families(subject="ada")] == ["f1"]
    assert [f.family_id for f in await grants.families(session_id="s2")] == ["f3"]


async def test_expired_grants_are_purged_and_live_ones_kept(storage: Storage):
    grants = GrantRepository(storage, "default")
    await grants.put_family(make_family("old", expires_at=50.0))
    await grants.put_family(make_family("live", expires_at=500.0))
    await grants.insert_refresh_token(RefreshToken("t-old", "old", expires_at=50.0))
    await grants.insert_session(LoginSession("s-old", "ada", 0.0, expires_at=50.0))
    assert await grants.purge_expired(now=100.0) == 3
    assert await grants.get_family("live") is not None
    assert await grants.get_refresh_token("t-old") is None


async def test_a_refresh_token_is_claimed_once(storage: Storage):
    grants = GrantRepository(storage, "default")
    await grants.insert_refresh_token(RefreshToken("t1", "f1", expires_at=1000.0))
    assert await grants.claim_refresh_token("t1") is True
    assert await grants.claim_refresh_token("t1") is False


async def test_an_account_is_found_by_its_case_folded_name_in_its_partition(storage: Storage):
    north = AccountRepository(storage, "north")
    account = Account(subject="s-1", username="Ada", password_hash="h", created_at=0.0)
    await north.insert(account, "ada")
    assert await north.find("ada") == account
    assert await AccountRepository(storage, "south").find("ada") is None
    await north.delete(account, "ada")
    assert await north.find("ada") is None and await north.get("s-1") is None


async def test_live_subjects_hold_an_unrevoked_unexpired_family_or_session(storage: Storage):
    grants = GrantRepository(storage, "default")
    await grants.put_family(make_family("f1", subject="ada", expires_at=500.0))
    await grants.put_family(make_family("f2", subject="bob", revoked=True))
    await grants.put_family(make_family("f3", subject="eve", expires_at=50.0))
    await grants.insert_session(LoginSession("s-1", "carol", 0.0, expires_at=500.0))
    await grants.insert_session(LoginSession("s-2", "dan", 0.0, expires_at=50.0))
    assert await grants.live_subjects(now=100.0) == {"ada", "carol"}


async def test_last_seen_is_kept_per_subject_and_forgotten(storage: Storage):
    grants = GrantRepository(storage, "default")
    await grants.record_seen("ada", 100.0)
    await grants.record_seen("ada", 160.5)
    await grants.record_seen("bob", 120.0)
    assert await grants.last_seen() == {"ada": 160.5, "bob": 120.0}
    await grants.forget_seen("ada")
    assert await grants.last_seen() == {"bob": 120.0}
