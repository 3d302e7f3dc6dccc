"""Household electricity use: daily profile, temperature dependence, noise.

Shape: the BDEW standard load profile H0 for households (via ``demandlib``
0.2.2; ``scripts/derive_h0_profile.py`` wrote ``data/h0_hourly.csv`` and
``data/h0_timefn.csv`` from it). BDEW distinguishes winter (1 Nov to 20 Mar),
summer (15 May to 14 Sep) and the transition between them, and workdays,
Saturdays and Sundays. Values are interpolated between hour midpoints, so
load never jumps on the hour.

Level: a Swedish house without electric heating uses about 5,000 kWh a year
(0.57 kW on average); with electric heating 15,000 to 20,000 kWh. Heating
load grows with the heating degrees below 17 °C; the default coefficient,
3 % per °C, is a mix of heated and unheated houses: at Luleå's January mean
of -11 °C a household draws 1.84 times its base load, and over Luleå's
roughly 6,300 heating degree days a year about 7,500 kWh in all. An
electrically heated house is about 0.15 per °C.

Noise: each member's load is multiplied by ``1 + x`` where ``x`` follows an
Ornstein-Uhlenbeck process (time constant 30 min, 10 % for one household).
A cluster of ``N`` households averages out: its noise is 10 % / sqrt(N).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import numpy as np

from services.physics.tables import read_table

HOUSEHOLD_ANNUAL_KWH = 5_000.0
"""Yearly use of a Swedish household without electric heating, kWh."""

HOUSEHOLD_MEAN_KW = HOUSEHOLD_ANNUAL_KWH / 8_760.0
"""Average power of that household, kW."""

HEATING_BASE_C = 17.0
"""Outdoor temperature below which heating load starts, °C."""

HEATING_COEFFICIENT_PER_C = 0.03
"""Relative load increase per °C below ``HEATING_BASE_C``."""

NOISE_TIME_CONSTANT_S = 1_800.0
HOUSEHOLD_NOISE = 0.10
"""Standard deviation of one household's relative load noise."""

SEASONS = ("winter", "transition", "summer")
DAY_TYPES = ("workday", "saturday", "sunday")


@cache
def h0_profiles() -> dict[tuple[str, str], np.ndarray]:
    """H0 relative load (1 = yearly mean) for hours 0..23, by (season, day type)."""
    table = read_table("h0_hourly.csv")
    profiles = {}
    for column, (season_name, day) in enumerate(
        ((s, d) for s in SEASONS for d in DAY_TYPES), start=1
    ):
        profiles[(season_name, day)] = table[:, column]
    return profiles


@cache
def default_timefn() -> np.ndarray:
    """The default 24-value ``timefn`` in [0, 1]: H0's year-average day over its maximum."""
    return read_table("h0_timefn.csv")[:, 1]


def season(day: date) -> str:
    """BDEW season of a calendar day."""
    month_day = (day.month, day.day)
    if month_day >= (11, 1) or month_day <= (3, 20):
        return "winter"
    if (5, 15) <= month_day <= (9, 14):
        return "summer"
    return "transition"


def day_type(day: date) -> str:
    """BDEW day type: workday, Saturday or Sunday (public holidays count as workdays)."""
    weekday = day.weekday()
    return "saturday" if weekday == 5 else "sunday" if weekday == 6 else "workday"


def hour_of_day(when: datetime) -> float:
    """Local hour as a fraction, 0 <= h < 24."""
    return when.hour + when.minute / 60.0 + (when.second + when.microsecond / 1e6) / 3600.0


def interpolate_hourly(values: np.ndarray, hour: float) -> np.ndarray:
    """Hourly averages (last axis, 24 values) read at ``hour``, linear between midpoints."""
    position = (hour - 0.5) % 24.0
    lower = int(position)
    weight = position - lower
    upper = (lower + 1) % 24
    return values[..., lower] * (1.0 - weight) + values[..., upper] * weight


def h0_factor(when: datetime) -> float:
    """H0 relative household load at a local time (1 = yearly mean)."""
    profile = h0_profiles()[(season(when.date()), day_type(when.date()))]
    return float(interpolate_hourly(profile, hour_of_day(when)))


def heating_factor(temperature_c: np.ndarray, coefficient_per_c: np.ndarray | float) -> np.ndarray:
    """Load multiplier from heating: ``1 + k x max(0, 17 °C - T)``."""
    degrees_below = np.maximum(HEATING_BASE_C - np.asarray(temperature_c, float), 0.0)
    return 1.0 + coefficient_per_c * degrees_below


def noise_step(
    state: np.ndarray,
    rng: np.random.Generator,
    dt_s: float,
    sigma: np.ndarray | float,
    tau_s: float = NOISE_TIME_CONSTANT_S,
) -> None:
    """Advance Ornstein-Uhlenbeck noise around 0 by ``dt_s``, in place (exact step)."""
    decay = np.exp(-dt_s / tau_s)
    shock = rng.standard_normal(state.size)
    shock *= sigma * np.sqrt(-np.expm1(-2.0 * dt_s / tau_s))
    state *= decay
    state += shock


def validate_timefn(timefn: np.ndarray) -> np.ndarray:
    """``timefn`` as an (n, 24) float array; raises ValueError unless 24 values in [0, 1]."""
    array = np.asarray(timefn, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 24:
        raise ValueError("timefn must have exactly 24 values, one per hour")
    if not np.all(np.isfinite(array)) or array.min(initial=0.0) < 0 or array.max(initial=0.0) > 1:
        raise ValueError("timefn values must be numbers in [0, 1]")
    return array


@dataclass
class ConsumerClusters:
    """Groups of plain consumers: only their total demand is simulated.

    A cluster's demand is ``households x HOUSEHOLD_MEAN_KW x profile x
    timefn(hour) / mean(timefn) x heating x (1 + noise)``: ``timefn`` gives
    the daily shape and ``profile`` scales the average household.
    """

    households: np.ndarray
    profile: np.ndarray
    timefn: np.ndarray
    site: np.ndarray
    heating_coefficient_per_c: np.ndarray
    noise: np.ndarray

    @classmethod
    def build(
        cls,
        households: np.ndarray,
        profile: np.ndarray | None = None,
        timefn: np.ndarray | None = None,
        site: np.ndarray | None = None,
        heating_coefficient_per_c: np.ndarray | float = HEATING_COEFFICIENT_PER_C,
    ) -> ConsumerClusters:
        households = np.asarray(households, dtype=float)
        n = households.size
        shape = default_timefn() if timefn is None else timefn
        table = np.broadcast_to(validate_timefn(shape), (n, 24)).copy()
        return cls(
            households=households,
            profile=np.ones(n) if profile is None else np.asarray(profile, dtype=float),
            timefn=table,
            site=np.zeros(n, dtype=np.intp) if site is None else np.asarray(site, dtype=np.intp),
            heating_coefficient_per_c=np.broadcast_to(
                np.asarray(heating_coefficient_per_c, float), (n,)
            ).copy(),
            noise=np.zeros(n),
        )

    def __len__(self) -> int:
        return int(self.households.size)

    def demand_kw(
        self,
        when: datetime,
        temperature_c_by_site: np.ndarray,
        rng: np.random.Generator,
        dt_s: float,
    ) -> np.ndarray:
        """Each cluster's demand at ``when``, advancing its noise by ``dt_s``, kW."""
        means = self.timefn.mean(axis=1)
        shape = np.divide(
            interpolate_hourly(self.timefn, hour_of_day(when)),
            means,
            out=np.zeros_like(means),
            where=means > 0,
        )
        sigma = HOUSEHOLD_NOISE / np.sqrt(np.maximum(self.households, 1.0))
        noise_step(self.noise, rng, dt_s, sigma)
        heating = heating_factor(
            np.asarray(temperature_c_by_site)[self.site], self.heating_coefficient_per_c
        )
        demand = self.households * HOUSEHOLD_MEAN_KW * self.profile * shape * heating
        demand *= np.maximum(1.0 + self.noise, 0.0)
        return demand
