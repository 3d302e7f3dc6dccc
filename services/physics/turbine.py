"""Small wind turbines: power curve, hub-height wind, breakdowns.

One turbine type, as in the original system. Its shape is the published power
curve of the Bergey Excel 10 (NREL ``turbine-models`` 0.2.2, group
"Distributed"; cut-in 2.5 m/s, 8.9 kW at 11 m/s, furling above about 16 m/s
at about 12.5 kW), normalised to its maximum. The original API gives each
turbine as the maximum power it can produce, so a turbine of rated ``P`` kW
produces ``P x curve(v_hub)``. ``scripts/derive_turbine_curve.py`` wrote the
table in ``data/turbine_curve.csv``.

Wind is measured at 10 m; hubs are higher. The Hellman power law
``v_hub = v_10 x (h / 10 m) ** alpha`` with ``alpha = 1/7`` (open land)
corrects for it. Hub heights come from the Bergey Excel 10's standard towers
(18, 30 and 49 m), so the curve can be evaluated once per site and tower
height and then looked up per turbine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from services.physics.tables import read_table

MEASUREMENT_HEIGHT_M = 10.0
"""Height of the wind measurement (OpenWeatherMap, synthetic model), m."""

HELLMAN_EXPONENT = 1.0 / 7.0
"""Wind shear exponent over open land (Hellman power law)."""

TOWER_HEIGHTS_M = (18.0, 30.0, 49.0)
"""Standard tower heights of the Bergey Excel 10 (turbine-models spec), m."""

CUT_OUT_MS = 25.0
"""Hub wind speed at which the turbine shuts down, m/s.

The Bergey table ends at 20.5 m/s while the machine is furled; the curve is
held at its last value up to 25 m/s, the cut-out of comparable small turbines
(Skystream 3.7, turbine-models), and is zero from there on.
"""


@dataclass(frozen=True)
class PowerCurve:
    """A normalised power curve: fraction of maximum power by hub wind speed."""

    wind_speed_ms: np.ndarray
    power_fraction: np.ndarray
    cut_out_ms: float = CUT_OUT_MS

    @property
    def cut_in_ms(self) -> float:
        """Lowest tabulated wind speed with positive power, m/s."""
        return float(self.wind_speed_ms[np.argmax(self.power_fraction > 0)])

    @property
    def rated_ms(self) -> float:
        """Wind speed at which the curve first reaches its maximum, m/s."""
        return float(self.wind_speed_ms[np.argmax(self.power_fraction)])

    def fraction(self, hub_wind_ms: np.ndarray) -> np.ndarray:
        """Fraction of maximum power (0..1) at the given hub wind speeds."""
        fraction = np.interp(
            hub_wind_ms,
            self.wind_speed_ms,
            self.power_fraction,
            left=0.0,
            right=float(self.power_fraction[-1]),
        )
        fraction[np.asarray(hub_wind_ms) >= self.cut_out_ms] = 0.0
        return fraction


@cache
def bergey_excel_10() -> PowerCurve:
    """The committed Bergey Excel 10 curve, normalised to its maximum."""
    table = read_table("turbine_curve.csv")
    table = table[np.argsort(table[:, 0])]
    wind, fraction = table[:, 0].copy(), np.clip(table[:, 1], 0.0, 1.0)
    for array in (wind, fraction):
        array.flags.writeable = False
    return PowerCurve(wind_speed_ms=wind, power_fraction=fraction)


def hub_height_factor(
    hub_height_m: np.ndarray | float,
    exponent: float = HELLMAN_EXPONENT,
    reference_height_m: float = MEASUREMENT_HEIGHT_M,
) -> np.ndarray:
    """Multiplier from 10 m wind to hub-height wind (Hellman power law)."""
    return np.power(np.asarray(hub_height_m, dtype=float) / reference_height_m, exponent)


def site_power_fraction(
    wind_10m_ms: np.ndarray,
    tower_heights_m: tuple[float, ...] = TOWER_HEIGHTS_M,
    curve: PowerCurve | None = None,
) -> np.ndarray:
    """Power fraction for every (site, tower height) pair, flattened site-major.

    ``wind_10m_ms`` has one value per weather site. The result has
    ``n_sites x n_towers`` values; a turbine at site ``s`` on tower ``k`` reads
    element ``s * n_towers + k`` (see ``site_tower_index``).
    """
    curve = curve or bergey_excel_10()
    factors = hub_height_factor(np.asarray(tower_heights_m))
    hub_wind = np.asarray(wind_10m_ms, dtype=float)[:, None] * factors[None, :]
    return curve.fraction(hub_wind.ravel())


def site_tower_index(site: np.ndarray, tower: np.ndarray, n_towers: int) -> np.ndarray:
    """Index into ``site_power_fraction``'s result for each turbine."""
    return np.asarray(site, dtype=np.intp) * n_towers + np.asarray(tower, dtype=np.intp)


def breakdowns(
    rng: np.random.Generator,
    repair_at_s: np.ndarray,
    now_s: float,
    dt_s: float,
    mean_time_between_failures_h: float,
    mean_repair_time_h: float,
) -> int:
    """Break turbine sets at random and schedule their repair, in place.

    Each working set fails with probability ``1 - exp(-dt / MTBF)`` in a
    step; a broken set produces nothing until ``repair_at_s`` (seconds of
    simulated time), drawn from an exponential repair time. Drawing the
    number of failures first and then their members costs O(failures), not
    O(members). Returns the number of new failures.
    """
    n = repair_at_s.size
    if n == 0 or mean_time_between_failures_h <= 0:
        return 0
    probability = -np.expm1(-dt_s / (mean_time_between_failures_h * 3600.0))
    count = int(rng.binomial(n, probability))
    if count == 0:
        return 0
    candidates = np.unique(rng.integers(0, n, size=count))
    working = candidates[repair_at_s[candidates] <= now_s]
    repair_s = rng.exponential(mean_repair_time_h * 3600.0, size=working.size)
    repair_at_s[working] = now_s + repair_s
    return int(working.size)
