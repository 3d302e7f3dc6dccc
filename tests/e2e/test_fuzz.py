"""Property-based requests from every service's own OpenAPI: no input may cause a 5xx.

schemathesis generates valid and invalid requests for every operation the
apps publish, so a route added later is covered without a new test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.e2e.harness import Processes

pytestmark = pytest.mark.slow

SERVICES = ("auth", "manager", "prosumer", "market", "simulation", "weather")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    processes = Processes(tmp_path_factory.mktemp("fuzz"), {"GRIDMARKET_TICK_SECONDS": "0.5"})
    for service in SERVICES:
        processes.add(service, service)
    weather, simulation = processes.url("weather"), processes.url("simulation")
    processes.env["prosumer"].update(
        PROSUMER_WEATHER_URL=weather, PROSUMER_SIMULATION_URLS=simulation
    )
    processes.env["manager"]["MANAGER_SIMULATION_URLS"] = simulation
    processes.env["simulation"]["SIMULATION_WEATHER_URL"] = weather
    processes.start()
    try:
        yield processes
    finally:
        processes.stop()


FUZZ = settings(
    max_examples=int(os.environ.get("GRIDMARKET_FUZZ_EXAMPLES", "60")),
    derandomize="GRIDMARKET_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("service", SERVICES)
def test_no_request_gets_a_server_error(fuzzed: Processes, service: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url(service)}/openapi.json")
    headers = fuzzed.admin_headers()
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue  # an endless response; its routes' inputs are tested by the API tests

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: schemathesis.Case) -> None:
            # As the administrator, so that requests get past access checks to the code behind.
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
