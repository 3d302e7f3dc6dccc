"""``gridmarket seed``: its secret, its targets, its refusals (the seeding itself: tests/e2e)."""

from __future__ import annotations

from services.cli import main
from services.common.security import derive_client_secret
from services.common.settings import DEFAULT_SECRET
from services.seed import ADMIN_SECRET_ENV, SeedTargets, admin_secret_from, demo_accounts
from services.up import demo_accounts as up_demo_accounts


def make_targets(**overrides: str) -> SeedTargets:
    urls = {
        "auth": "http://auth:8001",
        "manager": "http://manager:8002",
        "prosumer": "http://prosumer:8003",
        "market": "http://market:8004",
        "simulation": "http://simulation:8005",
    }
    return SeedTargets(**{**urls, **overrides})


def test_the_admin_secret_is_the_configured_one():
    assert admin_secret_from({ADMIN_SECRET_ENV: "a-registered-secret"}) == "a-registered-secret"


def test_without_one_the_admin_secret_is_the_development_one_of_the_secret_key():
    assert admin_secret_from({}) == derive_client_secret(DEFAULT_SECRET, "admin")
    assert admin_secret_from({"AUTH_SECRET_KEY": "k", ADMIN_SECRET_ENV: ""}) == (
        derive_client_secret("k", "admin")
    )


def test_the_market_polls_the_cell_where_the_seed_reaches_it_unless_told():
    assert make_targets().cell_url == "http://simulation:8005"
    assert make_targets(cell="http://cell-1:8005").cell_url == "http://cell-1:8005"


def test_demo_passwords_differ_per_key_and_account():
    first, other = demo_accounts("key-1"), demo_accounts("key-2")
    assert len({account.password for account in first}) == 3
    assert not {a.password for a in first} & {a.password for a in other}
    assert up_demo_accounts("key-1") == first  # what `gridmarket up` prints


def test_a_suite_that_does_not_answer_is_reported_not_raised(capsys):
    silent = "http://127.0.0.1:9"  # the discard port: nothing listens there
    argv = ["seed", "--wait", "0"]
    for service in ("auth", "manager", "prosumer", "market", "simulation"):
        argv += [f"--{service}", silent]
    assert main(argv) == 1
    assert "gridmarket seed: not answering after 0 s" in capsys.readouterr().err
