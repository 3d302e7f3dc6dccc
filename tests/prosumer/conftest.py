from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.prosumer.fakes import Harness, running_prosumer


@pytest.fixture
async def prosumer(tmp_path: Path) -> AsyncIterator[Harness]:
    """A running prosumer service with fake peers (see ``tests.prosumer.fakes``)."""
    async with running_prosumer(tmp_path) as harness:
        yield harness
