"""Every route of every service documents itself: a description, its answer, its errors."""

from __future__ import annotations

from typing import Any

import pytest

from services.serve import SERVICES, load_app


def operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for service in SERVICES:
        spec = load_app(service).openapi()
        for path, methods in spec["paths"].items():
            for method, operation in methods.items():
                found.append((service, method.upper(), path, operation))
    return found


OPERATIONS = operations()
IDS = [f"{service} {method} {path}" for service, method, path, _ in OPERATIONS]


@pytest.mark.parametrize(("service", "method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_route_has_a_one_line_description(service, method, path, operation):
    description = (operation.get("description") or "").strip()
    assert description, f"{service} {method} {path} has no description"


@pytest.mark.parametrize(("service", "method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_route_declares_its_answer(service, method, path, operation):
    success = [code for code in operation["responses"] if code.startswith("2")]
    assert success, f"{service} {method} {path} declares no success response"


@pytest.mark.parametrize(("service", "method", "path", "operation"), OPERATIONS, ids=IDS)
def test_routes_with_an_id_declare_not_found(service, method, path, operation):
    if "{" in path:
        assert "404" in operation["responses"], f"{service} {method} {path} does not declare 404"


def test_the_suite_publishes_every_original_route():
    published = {(service, method, path) for service, method, path, _ in OPERATIONS}
    original = {
        ("auth", "GET", "/api/login"),
        ("auth", "POST", "/api/login"),
        ("manager", "GET", "/api/members"),
        ("manager", "POST", "/api/members"),
        ("manager", "GET", "/api/members/{plant_id}"),
        ("manager", "GET", "/api/control/{plant_id}"),
        ("manager", "POST", "/api/control/{plant_id}"),
        ("manager", "PUT", "/api/control/{plant_id}"),
        ("prosumer", "GET", "/api/members"),
        ("prosumer", "POST", "/api/members"),
        ("prosumer", "GET", "/api/members/{member_id}"),
        ("prosumer", "PUT", "/api/members/{member_id}"),
        ("prosumer", "GET", "/api/control/{member_id}"),
        ("prosumer", "PUT", "/api/control/{member_id}"),
        ("market", "GET", "/api/members"),
        ("market", "POST", "/api/members"),
        ("market", "GET", "/api/members/{cell_id}"),
        ("market", "GET", "/api/price"),
        ("simulation", "GET", "/api/members"),
        ("simulation", "GET", "/api/data"),
        ("simulation", "GET", "/api/members/consumers"),
        ("simulation", "POST", "/api/members/consumers"),
        ("simulation", "GET", "/api/members/consumers/{member_id}"),
        ("simulation", "GET", "/api/members/prosumers"),
        ("simulation", "POST", "/api/members/prosumers"),
        ("simulation", "GET", "/api/members/prosumers/{member_id}"),
        ("simulation", "PUT", "/api/members/prosumers/{member_id}"),
        ("simulation", "GET", "/api/members/managers"),
        ("simulation", "POST", "/api/members/managers"),
        ("simulation", "GET", "/api/members/managers/{member_id}"),
        ("simulation", "PUT", "/api/members/managers/{member_id}"),
        ("weather", "GET", "/api/weather"),
    }
    assert original <= published, original - published
