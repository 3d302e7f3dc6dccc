"""``gridmarket up`` and the dashboard: its port, where it sends the browser, what it prints."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from services.cli import main
from services.common.settings import AuthSettings, DashboardSettings, ManagerSettings
from services.up import DEFAULT_PORTS, START_WAVES, Suite, child_environment, print_summary

OFFSET = 100


def make_suite(host: str = "127.0.0.1", offset: int = OFFSET) -> Suite:
    return Suite(host=host, ports={name: port + offset for name, port in DEFAULT_PORTS.items()})


def up_arguments(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(data_dir=tmp_path / "data", speed=1.0, tick=1.0)


def use_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``env`` this process's environment, as a child started with it would see it."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_the_dashboard_is_on_8000_plus_the_offset_and_starts_last():
    assert DEFAULT_PORTS["dashboard"] == 8000
    assert "dashboard" in START_WAVES[-1]
    assert make_suite().url("dashboard") == "http://127.0.0.1:8100"


def test_the_children_learn_the_dashboard_s_port_and_every_browser_facing_url(tmp_path: Path):
    env = child_environment(make_suite(), up_arguments(tmp_path))

    assert env["DASHBOARD_PORT"] == "8100"
    assert env["DASHBOARD_HOST"] == "127.0.0.1"
    assert env["AUTH_REDIRECT_URIS"] == (
        "http://127.0.0.1:8100/callback,http://localhost:8100/callback"
    )
    assert env["AUTH_POST_LOGOUT_REDIRECT_URIS"] == "http://127.0.0.1:8100/,http://localhost:8100/"
    assert env["GRIDMARKET_CORS_ORIGINS"] == "http://127.0.0.1:8100,http://localhost:8100"
    assert env["DASHBOARD_MANAGER_URL"] == "http://127.0.0.1:8102"
    assert env["DASHBOARD_WEATHER_URL"] == "http://127.0.0.1:8106"


def test_the_settings_read_what_up_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_environment(child_environment(make_suite(), up_arguments(tmp_path)), monkeypatch)

    auth = AuthSettings()
    assert auth.redirect_uris == [
        "http://127.0.0.1:8100/callback",
        "http://localhost:8100/callback",
    ]
    assert auth.post_logout_redirect_uris == ["http://127.0.0.1:8100/", "http://localhost:8100/"]
    assert ManagerSettings().cors_origins == ["http://127.0.0.1:8100", "http://localhost:8100"]
    dashboard = DashboardSettings()
    assert dashboard.listen_port == 8100
    assert dashboard.service_urls() == {
        "auth": "http://127.0.0.1:8101",
        "manager": "http://127.0.0.1:8102",
        "prosumer": "http://127.0.0.1:8103",
        "market": "http://127.0.0.1:8104",
        "simulation": "http://127.0.0.1:8105",
        "weather": "http://127.0.0.1:8106",
    }


def test_on_localhost_the_127_0_0_1_origin_is_allowed_too(tmp_path: Path):
    env = child_environment(make_suite(host="localhost"), up_arguments(tmp_path))

    assert env["GRIDMARKET_CORS_ORIGINS"] == "http://localhost:8100,http://127.0.0.1:8100"


def test_on_another_host_only_that_origin_is_allowed(tmp_path: Path):
    env = child_environment(make_suite(host="192.168.1.20"), up_arguments(tmp_path))

    assert env["GRIDMARKET_CORS_ORIGINS"] == "http://192.168.1.20:8100"
    assert env["AUTH_REDIRECT_URIS"] == "http://192.168.1.20:8100/callback"


def test_the_summary_names_the_dashboard_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    print_summary(make_suite(offset=0), True, tmp_path, [])

    lines = [line.split() for line in capsys.readouterr().out.splitlines() if "http://" in line]
    assert lines[0] == ["dashboard", "http://127.0.0.1:8000", "<-", "open", "this"]
    assert [line[0] for line in lines[1:]] == [
        "auth",
        "manager",
        "prosumer",
        "market",
        "simulation",
        "weather",
    ]


def test_up_refuses_to_start_when_the_dashboard_port_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            main(["up", "--data-dir", str(tmp_path), "--port-offset", str(port - 8000)])

    assert stopped.value.code == 2
    assert f"dashboard ({port})" in capsys.readouterr().err
