"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against the suite.

Every service and the dashboard run as processes on free loopback ports, seeded
with the demo scenario of ``gridmarket up``. The browser signs in at the issuer's
own login page, as a person would. Screenshots of each view are written to
``artifacts/screenshots`` (or ``$GRIDMARKET_ARTIFACTS/screenshots``).
"""

from __future__ import annotations

import argparse
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from services.common.settings import DEFAULT_SECRET
from services.serve import DASHBOARD
from services.up import (
    DEFAULT_PORTS,
    Suite,
    admin_token,
    child_environment,
    demo_accounts,
    seed,
    spawn,
    start,
    stop,
    wait_healthy,
)
from tests.e2e.harness import eventually, free_port

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist" / "index.html"
SHOTS = Path(os.environ.get("GRIDMARKET_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
PASSWORDS = {account.username: account.password for account in demo_accounts(DEFAULT_SECRET)}
UI_TIMEOUT_MS = 30_000
ACCESS_TOKEN_SECONDS = 90
RENEWAL_SECONDS = ACCESS_TOKEN_SECONDS - 60

if not (CHROMIUM.exists() and DIST.exists()):
    reason = f"needs {CHROMIUM} and the built dashboard ({DIST}; `make frontend`)"
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser tests cannot run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=UI_TIMEOUT_MS)


class Running:
    """The suite's processes, one of which a test may restart."""

    def __init__(self, suite: Suite, env: dict[str, str], logs: Path) -> None:
        self.suite = suite
        self.env = env
        self.logs = logs

    def restart(self, service: str) -> None:
        stop({service: self.suite.processes.pop(service)})
        log = open(self.logs / f"{service}.log", "ab")  # noqa: SIM115
        self.suite.processes[service] = spawn(service, self.env, log)
        wait_healthy({service: self.suite.url(service)}, self.suite.processes)

    def url(self, service: str) -> str:
        return self.suite.url(service)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data = tmp_path_factory.mktemp("dashboard-suite")
    suite = Suite(host="127.0.0.1", ports={name: free_port() for name in DEFAULT_PORTS})
    args = argparse.Namespace(data_dir=data, speed=1.0, tick=1.0)
    # Access tokens of 90 s: the dashboard renews them 60 s before they expire, within a test.
    env = {
        **child_environment(suite, args),
        "GRIDMARKET_SEED": "7",
        "AUTH_ACCESS_TOKEN_SECONDS": str(ACCESS_TOKEN_SECONDS),
    }
    env.pop("AUTH_SECRET_KEY", None)
    env.pop("GRIDMARKET_SECRET_KEY", None)
    try:
        start(suite, env, log_dir=data)
        seed(suite, DEFAULT_SECRET)
        yield Running(suite, env, data)
    finally:
        stop(suite.processes)


@pytest.fixture(scope="module")
def admin(running: Running) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        token = admin_token(client, running.url("auth"), DEFAULT_SECRET)
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page: Page, running: Running, username: str, password: str | None = None) -> None:
    """From the dashboard's sign-in view through the issuer's login page and back."""
    dashboard = running.url(DASHBOARD)
    page.goto(f"{dashboard}/")
    # Signed out, the dashboard asks the issuer once without a form, then shows its sign-in view.
    page.wait_for_url(re.compile(r"/login"))
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{running.url('auth')}/authorize**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(dashboard) + r"/(manager|prosumer/|$)"))
    expect(page.get_by_test_id("username")).to_have_text(username)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def unlabelled_controls(page: Page) -> list[str]:
    """Inputs, buttons and links without an accessible name."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, button, select, a[href]')]
            .filter((el) => !(el.labels && el.labels.length)
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
                && !(el.textContent || '').trim() && !el.getAttribute('title'))
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    return found


def get(client: httpx.Client, url: str) -> Any:
    response = client.get(url)
    response.raise_for_status()
    return response.json()


def member(admin: httpx.Client, running: Running, house: str) -> dict[str, Any]:
    found: dict[str, Any] = get(admin, f"{running.url('prosumer')}/api/members/{house}")
    return found


# -- prosumer ------------------------------------------------------------------------------------


def test_a_prosumer_moves_a_ratio_and_the_api_shows_it(page, running, admin):
    sign_in(page, running, "alice")
    page.wait_for_url("**/prosumer/house-01")
    expect(page.get_by_role("heading", name="house-01")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(page.get_by_role("meter", name="Battery level")).to_be_visible()
    for tile in ("wind", "production", "consumption", "net", "price", "source"):
        expect(page.get_by_test_id(tile)).not_to_have_text(re.compile("–"))

    slider = page.get_by_label("Surplus to the battery")
    slider.focus()
    page.keyboard.press("End")  # the keyboard alone: to 100 %
    expect(page.get_by_test_id("input-ratio-value")).to_have_text("100 %")
    eventually(
        lambda: get(admin, f"{running.url('prosumer')}/api/control/house-01")["input_ratio"] == 1.0
    )
    page.keyboard.press("Home")
    eventually(
        lambda: get(admin, f"{running.url('prosumer')}/api/control/house-01")["input_ratio"] == 0.0
    )

    control = f"{running.url('prosumer')}/api/control/house-01"
    switch = page.get_by_role("switch", name=re.compile("Turbines"))
    switch.press("Space")
    eventually(lambda: get(admin, control)["status"] is False)
    expect(page.get_by_test_id("production")).to_contain_text("0.00 kW", timeout=10_000)
    switch.press("Space")
    eventually(lambda: get(admin, control)["status"])

    # The charts fill from the stream, one point per tick or bucket.
    production = page.get_by_test_id("chart-power").locator("[data-series=Production]")
    expect(production).not_to_have_attribute("data-latest", "")
    assert not unlabelled_controls(page)
    shot(page, "prosumer")


def test_a_prosumer_sees_their_house_picture(page, running, tmp_path):
    picture = tmp_path / "house.png"
    Image.new("RGB", (64, 48), (30, 120, 90)).save(picture)
    sign_in(page, running, "alice")
    page.wait_for_url("**/prosumer/house-01")
    page.locator("section.picture input[type=file]").set_input_files(str(picture))
    image = page.get_by_role("img", name="Picture of house house-01")
    expect(image).to_be_visible()
    assert image.evaluate("(img) => img.naturalWidth") == 64

    page.locator("section.picture input[type=file]").set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}]
    )
    expect(page.get_by_role("alert")).to_contain_text("not an image")


def test_the_dashboard_renews_its_token_without_the_user_noticing(page, running, admin):
    renewals: list[str] = []
    bearers: list[str] = []
    token_url = f"{running.url('auth')}/token"
    prosumer = running.url("prosumer")

    def watch(request: Any) -> None:
        if request.url == token_url and "grant_type=refresh_token" in (request.post_data or ""):
            renewals.append(request.post_data)
        if request.url.startswith(prosumer) and "authorization" in request.headers:
            bearers.append(request.headers["authorization"])

    page.on("request", watch)
    sign_in(page, running, "alice")
    page.wait_for_url("**/prosumer/house-01")
    expect(page.locator(".page-head [data-status]")).to_have_attribute("data-status", "open")
    first = eventually(lambda: bearers[-1] if bearers else None)
    page.wait_for_timeout((RENEWAL_SECONDS + 5) * 1000)
    assert renewals, "no refresh-token grant before the access token expired"
    page.get_by_label("Deficit from the battery").focus()
    page.keyboard.press("End")
    eventually(lambda: get(admin, f"{prosumer}/api/control/house-01")["output_ratio"] == 1.0)
    assert bearers[-1] != first, "the control was sent with the first token"
    expect(page.locator(".page-head [data-status]")).to_have_attribute("data-status", "open")


def test_the_prosumer_view_fits_a_phone(browser, running):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(UI_TIMEOUT_MS)
    phone = context.new_page()
    try:
        sign_in(phone, running, "alice")
        phone.wait_for_url("**/prosumer/house-01")
        expect(phone.get_by_role("meter", name="Battery level")).to_be_visible()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        shot(phone, "prosumer-phone")
    finally:
        context.close()


def test_a_prosumer_can_neither_open_the_grid_nor_act_on_another_house(page, running, admin):
    tokens: list[str] = []
    page.on(
        "request",
        lambda request: (
            tokens.append(request.headers["authorization"])
            if request.url.startswith(running.url("prosumer"))
            and "authorization" in request.headers
            else None
        ),
    )
    sign_in(page, running, "alice")
    page.wait_for_url("**/prosumer/house-01")
    expect(page.get_by_role("link", name="Grid", exact=True)).to_have_count(0)

    page.goto(f"{running.url(DASHBOARD)}/manager")
    # A reload drops the in-memory tokens; the issuer's session signs alice in again.
    expect(page.get_by_test_id("forbidden")).to_contain_text("for managers")
    shot(page, "forbidden")
    page.goto(f"{running.url(DASHBOARD)}/prosumer/house-02")
    expect(page.get_by_test_id("forbidden")).to_contain_text("house-02")

    # Her own token, taken from the page's requests, cannot steer bob's house either.
    assert tokens
    before = get(admin, f"{running.url('prosumer')}/api/control/house-02")
    headers = {"Authorization": tokens[-1]}
    for method, path, body in (
        ("PUT", "/api/control/house-02", {"input_ratio": 0.9}),
        ("POST", "/api/members/house-02/block", {"seconds": 50}),
        ("DELETE", "/api/members/house-02", None),
    ):
        answer = httpx.request(
            method, f"{running.url('prosumer')}{path}", json=body, headers=headers, timeout=5
        )
        assert answer.status_code == 403, (method, path, answer.text)
    own = httpx.put(
        f"{running.url('prosumer')}/api/control/house-01",
        json={"output_ratio": 0.4},
        headers=headers,
        timeout=5,
    )
    assert own.status_code == 200
    assert get(admin, f"{running.url('prosumer')}/api/control/house-02") == before


# -- manager -------------------------------------------------------------------------------------


def test_a_manager_stops_the_plant_and_sees_it_stop(page, running):
    sign_in(page, running, "manager")
    page.wait_for_url("**/manager")
    state = page.get_by_test_id("plant-state")
    expect(state).to_have_attribute("data-state", "running")
    # At full set-point (600 kW), ramping down takes several ticks.
    output = page.get_by_test_id("plant-output")
    eventually(lambda: float(output.get_attribute("data-kw") or 0) >= 590, timeout_s=30)
    # Every state the page shows, in order.
    page.evaluate(
        """() => {
            window.__states = [];
            const note = () => {
                const el = document.querySelector('[data-testid=plant-state]');
                const value = el && el.dataset.state;
                if (value && window.__states.at(-1) !== value) window.__states.push(value);
            };
            note();
            new MutationObserver(note).observe(document.body, {
                subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'],
            });
        }"""
    )
    plant_line = page.get_by_test_id("chart-production").locator("[data-series=Plant]")
    expect(plant_line).not_to_have_attribute("data-latest", "")
    assert float(plant_line.get_attribute("data-latest") or 0) > 0
    shot(page, "manager")

    page.get_by_test_id("plant-stop").click()
    expect(state).to_have_attribute("data-state", "stopped")
    assert page.evaluate("() => window.__states") == ["running", "stopping", "stopped"]
    expect(page.get_by_test_id("plant-output")).to_have_text("0.00 kW")
    # The production chart falls to zero; its earlier points stay.
    expect(plant_line).to_have_attribute("data-latest", "0")
    assert float(plant_line.get_attribute("data-max") or 0) > 0

    page.get_by_test_id("plant-start").click()
    expect(state).to_have_attribute("data-state", "starting")
    expect(state).to_have_attribute("data-state", "running")


def test_a_manager_blocks_a_prosumer_and_its_sales_stop_then_resume(page, running, admin):
    prosumer = running.url("prosumer")
    # Bob's house gets big turbines and sells all its surplus.
    admin.put(
        f"{prosumer}/api/members/house-02",
        json={
            "turbines": [10.0, 10.0, 10.0],
            "batteries": [{"capacity": 13.5, "maxOutput": 5.0, "maxCharge": 5.0}],
            "input_ratio": 0.0,
        },
    ).raise_for_status()
    eventually(lambda: member(admin, running, "house-02")["sold_kw"] > 0.1)

    sign_in(page, running, "manager")
    page.wait_for_url("**/manager")
    row = page.locator("tr[data-prosumer=house-02]")
    expect(row.locator("td[data-col=selling]")).to_contain_text("kW")
    page.get_by_label("Block for").fill("5")
    block = page.get_by_role("button", name="Block house-02 from selling for 5 seconds")
    expect(block).to_be_disabled()  # 10 to 100 seconds
    page.get_by_label("Block for").fill("10")
    page.get_by_role("button", name="Block house-02 from selling for 10 seconds").click()
    expect(page.get_by_role("status").filter(has_text="may not sell")).to_be_visible()
    expect(row.locator("td[data-col=selling]")).to_contain_text("blocked")

    eventually(lambda: member(admin, running, "house-02")["sold_kw"] == 0.0, timeout_s=5)
    assert member(admin, running, "house-02")["blocked_until"] is not None
    eventually(lambda: member(admin, running, "house-02")["sold_kw"] > 0.1, timeout_s=20)
    expect(row.locator("td[data-col=selling]")).not_to_contain_text("blocked")
    expect(row.locator("td[data-col=selling]")).to_contain_text("kW")


def test_a_manager_overrides_the_price_and_clears_it(page, running):
    sign_in(page, running, "manager")
    page.wait_for_url("**/manager")
    page.get_by_label("Set the price (SEK/kWh)").fill("lots")
    page.get_by_role("button", name="Set", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("number of SEK/kWh")
    page.get_by_label("Set the price (SEK/kWh)").fill("2.5")
    page.get_by_role("button", name="Set", exact=True).click()
    expect(page.get_by_test_id("override-state")).to_contain_text("2.50 SEK/kWh")
    expect(page.get_by_test_id("price")).to_contain_text("2.50 SEK/kWh")
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_test_id("override-state")).to_contain_text("modelled price applies")
    market = httpx.get(f"{running.url('market')}/api/price/override", timeout=5).json()
    assert market == {"price": None}


def test_the_manager_page_reconnects_after_a_service_restart(page, running, admin):
    sign_in(page, running, "manager")
    page.wait_for_url("**/manager")
    live = page.locator(".page-head [data-status]")
    expect(live).to_have_attribute("data-status", "open")

    running.restart("market")
    # Only a stream after the restart can bring this price to the page.
    eventually(
        lambda: (
            admin.put(
                f"{running.url('market')}/api/price/override", json={"price": 3.21}
            ).is_success
        )
    )
    expect(page.get_by_test_id("price")).to_contain_text("3.21 SEK/kWh", timeout=40_000)
    expect(live).to_have_attribute("data-status", "open")
    admin.delete(f"{running.url('market')}/api/price/override")


def test_the_manager_table_lists_prosumers_and_clusters(page, running, admin):
    sign_in(page, running, "manager")
    page.wait_for_url("**/manager")
    expect(page.locator("tr[data-prosumer]")).to_have_count(25)
    alice = page.locator("tr[data-prosumer=house-01]")
    expect(alice).to_contain_text("alice")
    expect(page.get_by_role("heading", name="Consumer clusters (10)")).to_be_visible()
    assert not unlabelled_controls(page)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete house-25").click()
    expect(page.locator("tr[data-prosumer=house-25]")).to_have_count(0)
    assert admin.get(f"{running.url('prosumer')}/api/members/house-25").status_code == 404

    page.get_by_role("link", name="Details of house-03").click()
    page.wait_for_url("**/prosumer/house-03")
    expect(page.get_by_role("heading", name="house-03")).to_be_visible()


# -- accounts ------------------------------------------------------------------------------------


def test_registration_profile_password_and_deletion(page, running, admin):
    dashboard = running.url(DASHBOARD)
    page.goto(f"{dashboard}/login")
    shot(page, "login")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password", exact=True).fill("carol-password-1")
    page.get_by_label("Password again").fill("carol-password-1")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Account carol created")
    page.get_by_label("Password", exact=True).fill("carol-password-1")
    page.get_by_label("Password again").fill("carol-password-1")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("not created")

    sign_in(page, running, "carol", "carol-password-1")
    expect(page.get_by_role("heading", name="Welcome, carol")).to_be_visible()
    page.get_by_role("link", name="Profile", exact=True).click()
    picture = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 60, 60)).save(picture, format="PNG")
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "me.png", "mimeType": "image/png", "buffer": picture.getvalue()}]
    )
    expect(page.get_by_role("img", name="Your picture")).to_be_visible()
    assert not unlabelled_controls(page)
    shot(page, "profile")

    page.get_by_label("Current password").fill("wrong-password-0")
    page.get_by_label("New password", exact=True).fill("carol-password-2")
    page.get_by_label("New password again").fill("carol-password-2")
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_role("alert")).to_contain_text("not changed")
    page.get_by_label("Current password").fill("carol-password-1")
    page.get_by_role("button", name="Change the password").click()
    page.wait_for_url("**/login?changed=1")
    expect(page.get_by_role("status")).to_contain_text("password was changed")

    sign_in(page, running, "carol", "carol-password-2")
    page.get_by_role("link", name="Profile", exact=True).click()
    page.get_by_label("Type your username to confirm").fill("carol")
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url("**/login?deleted=1")
    profiles = get(admin, f"{running.url('auth')}/api/profiles")
    assert "carol" not in {profile["username"] for profile in profiles}
