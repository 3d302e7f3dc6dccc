"""Committed data tables (``data/*.csv``): '#' provenance lines, a header, numbers."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np


@cache
def read_table(name: str) -> np.ndarray:
    """The numeric rows of ``data/<name>`` as a read-only 2-D array."""
    text = resources.files("services.physics").joinpath(f"data/{name}").read_text()
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    table = np.loadtxt(rows[1:], delimiter=",", ndmin=2)
    table.flags.writeable = False
    return table
