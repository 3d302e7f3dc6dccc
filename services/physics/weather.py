"""Synthetic weather for a coastal site in northern Sweden (Luleå, 65.58 N, 22.15 E).

Wind at 10 m (m/s), wind direction (degrees, 0-360) and 2 m air temperature
(°C) for a handful of locations, pure numpy and deterministic for a seed: the
same seed, start and sequence of sample times give the same values.

Model
-----
Daily mean wind. Each local (Europe/Stockholm) calendar day has a daily mean
10 m wind speed per location, Weibull distributed with shape
``WEIBULL_SHAPE`` and a scale that follows the season
(``seasonal_weibull_scale_ms``). The Weibull values are drawn through a
Gaussian copula: a standard-normal driver per location, spatially correlated by
the Cholesky factor of ``exp(-distance / DAILY_WIND_CORRELATION_LENGTH_KM)``
(this shared field is the regional component: nearby locations get nearly the
same driver, distant ones independent ones) and persistent from day to day as
an AR(1) with lag-one-day correlation ``DAILY_WIND_PERSISTENCE``. The drivers of
a given date depend only on the seed, the start and that date.

Intra-day wind. The wind speed is an Ornstein-Uhlenbeck process around the
current daily mean, advanced with its exact discretisation for any step ``dt``::

    x' = mu + (x - mu) exp(-dt / tau) + sigma sqrt(1 - exp(-2 dt / tau)) N

so large gaps are exact and the wind never jumps: when the daily mean changes
at local midnight, the wind starts to relax toward the new mean from where it
was. Steps are split at each local midnight so every piece uses the right mean.
``sigma`` is a fraction of the daily mean (``WIND_INTRADAY_RELATIVE_SD``). The
reported speed is ``max(x, 0)`` (a negative excursion is calm air). The noise
``N`` is correlated between locations by the Cholesky factor of
``exp(-distance / INTRADAY_CORRELATION_LENGTH_KM)``. The direction is a second
OU process (unwrapped degrees, reported modulo 360) around the prevailing
direction, driven by independent noise with the same spatial correlation.

Temperature. ``temperature_mean_c`` (seasonal harmonic) +
``diurnal_temperature_c`` (minimum at 05:00, maximum at 15:00 local mean solar
time, larger amplitude in summer) + an OU anomaly with time constant
``TEMPERATURE_TIME_CONSTANT_S`` and a seasonal standard deviation, correlated
between locations over ``TEMPERATURE_CORRELATION_LENGTH_KM``. Every location has
Luleå's climatology: the model is regional (locations within ~100 km).

The season is a continuous day of year (``day_of_year``: days since
2000-01-01 00:00 UTC modulo the tropical year, plus 1), so the climatology has
no jump at New Year. The daily cycle uses local mean solar time
(UTC + longitude / 15 h; at Luleå 0.5 h ahead of CET), so it has no jump at the
daylight-saving change either.

Constants and their sources
---------------------------
- ``LULEA_LATITUDE_DEG``, ``LULEA_LONGITUDE_DEG``: Luleå city centre,
  65.5848 N, 22.1540 E.
- ``EARTH_RADIUS_KM`` = 6371.0088: IUGG mean Earth radius (Moritz, Geodetic
  Reference System 1980), for the haversine distance.
- ``WIND_ANNUAL_MEAN_MS`` = 4.0 m/s daily mean at 10 m. An assumed round
  value inside the 3.5-5 m/s expected for land stations on the Norrbotten
  coast (e.g. Luleå-Kallax airport). No published station normal was found in
  the sources at hand, so treat it as plausible, not measured.
- ``WIND_SEASONAL_AMPLITUDE_MS`` = 0.8 m/s (about ±20 %), windiest around
  ``WIND_PEAK_DAY_OF_YEAR`` = 349 (mid-December): SMHI, "Vindhastighet under
  året och dygnet" (Kunskapsbanken): coastal stations blow most in winter and
  have a smaller daily cycle than inland ones; SMHI blog "Vindstatistik och
  vindrekord" (2014), after Alexandersson (2006), Vindstatistik för Sverige
  1961-2004: coastal means highest October-February, lowest April-August
  (the northernmost of its stations, Bjuröklubb, is about 130 km south-west
  of Luleå). The ±20 % size is an assumption. No daily wind cycle is modelled, as SMHI
  reports it small at the coast.
- ``WEIBULL_SHAPE`` = 2.0: the Rayleigh case, the usual shape for Scandinavian
  wind speeds (typically 1.8-2.2). It is applied to the daily means; the
  intra-day noise widens the hourly distribution to an effective shape of
  about 1.8.
- ``DAILY_WIND_PERSISTENCE`` = 0.6 (lag-one-day correlation of the daily
  driver): windy and calm spells last a few days (synoptic time scale of 2-5
  days); an assumption of that order.
- ``DAILY_WIND_CORRELATION_LENGTH_KM`` = 400 and
  ``INTRADAY_CORRELATION_LENGTH_KM`` = 200: correlations of wind between sites
  decay exponentially with distance, more slowly for slower components
  (Olauson & Bergkvist 2016, Energy 114:663-670, "Correlation between wind
  power generation in the European countries"; St. Martin, Lundquist &
  Handschy 2015, "Variability of interconnected wind plants: correlation
  length and its dependence on variability time scale", OSTI 1220776). The
  lengths are chosen, not fitted: hourly winds 20 km apart then correlate at
  about 0.95 and 1000 km apart at about 0.1 (partly from the shared seasonal
  cycle).
- ``WIND_TIME_CONSTANT_S`` = 4 h and ``WIND_INTRADAY_RELATIVE_SD`` = 0.2
  (floor ``WIND_INTRADAY_MIN_SD_MS`` = 0.2 m/s): hour-to-hour wind varies
  around the day's mean by some 20 % and stays correlated for hours; a
  modelling choice that gives a lag-one-hour autocorrelation of hourly wind of
  about 0.96 and one-minute changes under 1 m/s.
- ``WIND_DIRECTION_PREVAILING_DEG`` = 225 (south-west), with standard deviation
  ``WIND_DIRECTION_SD_DEG`` = 60 and time constant 12 h: SMHI, "Vind i
  Sverige" (Kunskapsbanken): Sweden lies in the westerly belt, the prevailing
  undisturbed wind is westerly or south-westerly, with long spells from other
  directions. Spread and time constant are assumptions.
- ``TEMPERATURE_ANNUAL_MEAN_C`` = 2.75 °C, ``TEMPERATURE_SEASONAL_AMPLITUDE_C``
  = 13.25 °C, warmest at ``TEMPERATURE_WARMEST_DAY_OF_YEAR`` = 200 (19 July):
  gives about -10.5 °C in January and +16 °C in July, between the older SMHI
  normal of about -11 °C for January and recent figures (Visit Luleå,
  "Temperatures": January -10, July +16 °C; climatestotravel.com, Luleå:
  January -9.3, July +16.8 °C). One harmonic is about 2 °C too warm in
  April, where Luleå's spring lags.
- ``DIURNAL_AMPLITUDE_MEAN_C`` = 2.5 °C, ``DIURNAL_AMPLITUDE_SEASONAL_C`` =
  1.5 °C (half the daily range: about 1 °C in midwinter, 4 °C at midsummer),
  largest at the summer solstice (day 172) because the daily cycle is driven by
  the sun, which at 65.6 N is up about 3 h at the winter solstice and about
  23 h at the summer solstice (sunrise equation with refraction). The minimum
  at 05:00 and maximum at 15:00 are the usual timing of the daily temperature
  cycle. The mean daily maximum minus minimum at Luleå is about 8 °C all year
  (climatestotravel.com), which also includes day-to-day weather changes, so
  the pure daily cycle is smaller.
- ``TEMPERATURE_ANOMALY_SD_MEAN_C`` = 4.25 °C, ``TEMPERATURE_ANOMALY_SD_SEASONAL_C``
  = 1.75 °C (6 °C in January, 2.5 °C in July) and ``TEMPERATURE_TIME_CONSTANT_S``
  = 4 days: the red-noise (AR(1)) model of daily temperature anomalies
  (Wilks, Statistical Methods in the Atmospheric Sciences). Sized so that the
  January monthly mean varies by about 3 °C from year to year, as at Luleå
  (Luleå municipal archive, "Genomsnittliga temperaturer i Luleå 1892-1905":
  January means 1893-1900 from -17 to -5 °C; NSD 2019-02-01, "Så kall var
  januari": January 2019 at -15.6 °C against -10 °C on average since 1921).
- ``TEMPERATURE_CORRELATION_LENGTH_KM`` = 1000: temperature anomalies are
  coherent over large distances (Hansen & Lebedeff 1987, J. Geophys. Res.
  92:13345: at middle and high latitudes, correlation of temperature anomalies
  above 0.5 out to about 1200 km). Daily anomalies decorrelate somewhat
  faster, so 1000 km is at the long end; it matters little for locations
  within ~100 km.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

LOCAL_TIMEZONE = ZoneInfo("Europe/Stockholm")
"""Daily means change at local midnight in this zone."""

LULEA_LATITUDE_DEG = 65.5848
LULEA_LONGITUDE_DEG = 22.1540
EARTH_RADIUS_KM = 6371.0088

TROPICAL_YEAR_DAYS = 365.2422
"""Mean tropical year, days: the period of every seasonal term."""
_EPOCH_UTC_S = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")).timestamp()
"""2000-01-01 00:00 UTC, where ``day_of_year`` is 1.0."""

WIND_ANNUAL_MEAN_MS = 4.0
WIND_SEASONAL_AMPLITUDE_MS = 0.8
WIND_PEAK_DAY_OF_YEAR = 349.0
WEIBULL_SHAPE = 2.0
DAILY_WIND_PERSISTENCE = 0.6
DAILY_WIND_CORRELATION_LENGTH_KM = 400.0
INTRADAY_CORRELATION_LENGTH_KM = 200.0
WIND_TIME_CONSTANT_S = 4 * 3600.0
WIND_INTRADAY_RELATIVE_SD = 0.2
WIND_INTRADAY_MIN_SD_MS = 0.2

WIND_DIRECTION_PREVAILING_DEG = 225.0
WIND_DIRECTION_SD_DEG = 60.0
WIND_DIRECTION_TIME_CONSTANT_S = 12 * 3600.0

TEMPERATURE_ANNUAL_MEAN_C = 2.75
TEMPERATURE_SEASONAL_AMPLITUDE_C = 13.25
TEMPERATURE_WARMEST_DAY_OF_YEAR = 200.0
DIURNAL_AMPLITUDE_MEAN_C = 2.5
DIURNAL_AMPLITUDE_SEASONAL_C = 1.5
SUMMER_SOLSTICE_DAY_OF_YEAR = 172.0
DIURNAL_MIN_HOUR = 5.0
DIURNAL_MAX_HOUR = 15.0
TEMPERATURE_ANOMALY_SD_MEAN_C = 4.25
TEMPERATURE_ANOMALY_SD_SEASONAL_C = 1.75
TEMPERATURE_ANOMALY_PEAK_DAY_OF_YEAR = 15.0
TEMPERATURE_TIME_CONSTANT_S = 4 * 86400.0
TEMPERATURE_CORRELATION_LENGTH_KM = 1000.0

_NORMAL_CLIP = 8.0
"""Standard-normal drivers are clipped to this many standard deviations before the copula."""
_CHOLESKY_JITTER = 1e-9
"""Added to the correlation matrix's diagonal so that coincident locations still factor."""


# -- pure helpers ---------------------------------------------------------------------------------


def haversine_km(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> FloatArray:
    """Great-circle distance in km between points given in degrees (broadcasts)."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    )
    half_chord = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(half_chord, 0.0, 1.0))))


def distance_matrix_km(latitudes_deg: ArrayLike, longitudes_deg: ArrayLike) -> FloatArray:
    """Pairwise great-circle distances, km, as an (n, n) array."""
    lat = np.asarray(latitudes_deg, dtype=float)
    lon = np.asarray(longitudes_deg, dtype=float)
    return haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])


def correlation_matrix(
    latitudes_deg: ArrayLike, longitudes_deg: ArrayLike, length_km: float
) -> FloatArray:
    """Correlation ``exp(-distance / length_km)`` between every pair of locations, (n, n)."""
    if not length_km > 0:
        raise ValueError("length_km must be positive")
    return np.exp(-distance_matrix_km(latitudes_deg, longitudes_deg) / length_km)


def correlation_cholesky(correlation: ArrayLike) -> FloatArray:
    """Lower Cholesky factor ``L`` of a correlation matrix, so ``L @ N(0, I)`` has that correlation.

    A tiny diagonal jitter lets coincident locations (correlation exactly 1) factor.
    """
    matrix = np.asarray(correlation, dtype=np.float64)
    factor = np.linalg.cholesky(matrix + _CHOLESKY_JITTER * np.eye(len(matrix)))
    return np.asarray(factor, dtype=np.float64)


def day_of_year(at: datetime) -> float:
    """Continuous day of year (1.0 at 2000-01-01 00:00 UTC, period one tropical year)."""
    return _day_of_year_at(_aware(at).timestamp())


def _day_of_year_at(unix_s: float) -> float:
    return ((unix_s - _EPOCH_UTC_S) / 86400.0) % TROPICAL_YEAR_DAYS + 1.0


def _seasonal(day: ArrayLike, mean: float, amplitude: float, peak_day: float) -> FloatArray:
    phase = 2 * np.pi * (np.asarray(day, dtype=float) - peak_day) / TROPICAL_YEAR_DAYS
    return np.asarray(mean + amplitude * np.cos(phase))


def seasonal_mean_wind_ms(day: ArrayLike) -> FloatArray:
    """Climatological daily mean wind speed at 10 m, m/s, for a day of year."""
    return _seasonal(day, WIND_ANNUAL_MEAN_MS, WIND_SEASONAL_AMPLITUDE_MS, WIND_PEAK_DAY_OF_YEAR)


def seasonal_weibull_scale_ms(day: ArrayLike) -> FloatArray:
    """Weibull scale, m/s, of the daily mean wind whose mean is ``seasonal_mean_wind_ms(day)``."""
    return seasonal_mean_wind_ms(day) / math.gamma(1.0 + 1.0 / WEIBULL_SHAPE)


def _weibull_hazard(z: float) -> float:
    """``-log(1 - Phi(z))`` for a standard-normal value, precise in both tails."""
    z = min(max(z, -_NORMAL_CLIP), _NORMAL_CLIP)
    if z < 0:
        return -math.log1p(-0.5 * math.erfc(-z / math.sqrt(2.0)))
    return -math.log(0.5 * math.erfc(z / math.sqrt(2.0)))


def weibull_from_normal(
    normal: ArrayLike, scale_ms: ArrayLike, shape: float = WEIBULL_SHAPE
) -> FloatArray:
    """Map standard-normal values to Weibull(``shape``, ``scale_ms``) values, m/s (a copula).

    ``scale x (-log(1 - Phi(z))) ** (1 / shape)``; ``z`` is clipped to ±8 (probability
    1e-15), which keeps the result finite.
    """
    z = np.atleast_1d(np.asarray(normal, dtype=float))
    hazard = np.array([_weibull_hazard(v) for v in z.ravel()]).reshape(z.shape)
    return np.asarray(np.asarray(scale_ms) * hazard ** (1.0 / shape))


def temperature_mean_c(day: ArrayLike) -> FloatArray:
    """Climatological daily mean 2 m temperature at Luleå, °C, for a day of year."""
    return _seasonal(
        day,
        TEMPERATURE_ANNUAL_MEAN_C,
        TEMPERATURE_SEASONAL_AMPLITUDE_C,
        TEMPERATURE_WARMEST_DAY_OF_YEAR,
    )


def diurnal_amplitude_c(day: ArrayLike) -> FloatArray:
    """Half the mean daily temperature range, °C: largest at midsummer."""
    return _seasonal(
        day, DIURNAL_AMPLITUDE_MEAN_C, DIURNAL_AMPLITUDE_SEASONAL_C, SUMMER_SOLSTICE_DAY_OF_YEAR
    )


def diurnal_shape(solar_hour: ArrayLike) -> FloatArray:
    """Daily temperature cycle in [-1, 1]: -1 at 05:00, +1 at 15:00, zero mean over a day.

    Two half-cosines: a 10 h rise and a 14 h fall, continuous with a continuous slope.
    """
    hour = np.asarray(solar_hour, dtype=float) % 24.0
    rise_h = DIURNAL_MAX_HOUR - DIURNAL_MIN_HOUR
    since_min = (hour - DIURNAL_MIN_HOUR) % 24.0
    since_max = (hour - DIURNAL_MAX_HOUR) % 24.0
    rising = -np.cos(np.pi * since_min / rise_h)
    falling = np.cos(np.pi * since_max / (24.0 - rise_h))
    return np.asarray(np.where(since_min < rise_h, rising, falling))


def diurnal_temperature_c(solar_hour: ArrayLike, day: ArrayLike) -> FloatArray:
    """Departure of the temperature from the day's mean, °C, at a local solar hour."""
    return np.asarray(diurnal_amplitude_c(day) * diurnal_shape(solar_hour))


def temperature_anomaly_sd_c(day: ArrayLike) -> FloatArray:
    """Standard deviation of the temperature anomaly, °C: largest in January."""
    return _seasonal(
        day,
        TEMPERATURE_ANOMALY_SD_MEAN_C,
        TEMPERATURE_ANOMALY_SD_SEASONAL_C,
        TEMPERATURE_ANOMALY_PEAK_DAY_OF_YEAR,
    )


def solar_hour(at: datetime, longitudes_deg: ArrayLike) -> FloatArray:
    """Local mean solar time in hours [0, 24) at each longitude (UTC + longitude / 15 h)."""
    utc_hours = _aware(at).timestamp() / 3600.0
    return np.asarray((utc_hours + np.asarray(longitudes_deg, dtype=float) / 15.0) % 24.0)


def ornstein_uhlenbeck_step(
    value: ArrayLike,
    mean: ArrayLike,
    stationary_sd: ArrayLike,
    dt_s: float,
    time_constant_s: float,
    normal: ArrayLike,
) -> FloatArray:
    """Exact OU update over ``dt_s`` seconds, given standard-normal (or correlated) ``normal``.

    ``x' = mean + (x - mean) e^(-dt/tau) + sd sqrt(1 - e^(-2 dt/tau)) N``, exact for any step.
    """
    decay = math.exp(-dt_s / time_constant_s)
    spread = math.sqrt(-math.expm1(-2.0 * dt_s / time_constant_s))
    x = np.asarray(value, dtype=float)
    mu = np.asarray(mean, dtype=float)
    return np.asarray(
        mu + (x - mu) * decay + np.asarray(stationary_sd) * spread * np.asarray(normal)
    )


def _aware(at: datetime) -> datetime:
    """``at`` with a timezone: naive times are Europe/Stockholm local time."""
    return at if at.tzinfo is not None else at.replace(tzinfo=LOCAL_TIMEZONE)


def _read_only(array: FloatArray) -> FloatArray:
    array.flags.writeable = False
    return array


# -- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeatherSample:
    """The weather at every location at one time (arrays are read-only)."""

    time: datetime
    wind_speed_ms: np.ndarray
    """(n_locations,) wind speed at 10 m, m/s, >= 0."""
    wind_direction_deg: np.ndarray
    """(n_locations,) direction the wind comes from, degrees in [0, 360)."""
    temperature_c: np.ndarray
    """(n_locations,) air temperature at 2 m, °C."""


class SyntheticWeather:
    """Correlated synthetic weather at a set of locations, advanced by sampling forward in time.

    Deterministic for a seed: the same seed, start and sequence of sample times give the
    same values. Per sample the cost is O(n_locations^2) per local midnight crossed.
    """

    def __init__(
        self,
        latitudes_deg: Sequence[float] | np.ndarray,
        longitudes_deg: Sequence[float] | np.ndarray,
        *,
        seed: int,
        start: datetime,
    ) -> None:
        lat = np.asarray(latitudes_deg, dtype=float)
        lon = np.asarray(longitudes_deg, dtype=float)
        if lat.ndim != 1 or lat.shape != lon.shape or lat.size == 0:
            raise ValueError("latitudes and longitudes must be equal-length, non-empty 1-D arrays")
        if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
            raise ValueError("latitudes and longitudes must be finite")
        if np.any(np.abs(lat) > 90.0):
            raise ValueError("latitudes must be within [-90, 90] degrees")
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.latitudes_deg = _read_only(lat.copy())
        self.longitudes_deg = _read_only(lon.copy())
        self._seed = seed
        self._daily_chol = correlation_cholesky(
            correlation_matrix(lat, lon, DAILY_WIND_CORRELATION_LENGTH_KM)
        )
        self._intraday_chol = correlation_cholesky(
            correlation_matrix(lat, lon, INTRADAY_CORRELATION_LENGTH_KM)
        )
        self._temperature_chol = correlation_cholesky(
            correlation_matrix(lat, lon, TEMPERATURE_CORRELATION_LENGTH_KM)
        )
        self._rng = np.random.default_rng([seed, 0])

        start = _aware(start)
        self._time_s = start.timestamp()
        self._day = start.astimezone(LOCAL_TIMEZONE).date()
        self._daily_normal = self._daily_chol @ self._day_innovation(self._day)
        self._set_day(self._day)

        n = lat.size
        self._wind_ms = self._daily_mean_ms + self._wind_sd_ms * (
            self._intraday_chol @ self._rng.standard_normal(n)
        )
        self._direction_deg = WIND_DIRECTION_PREVAILING_DEG + WIND_DIRECTION_SD_DEG * (
            self._intraday_chol @ self._rng.standard_normal(n)
        )
        self._temperature_anomaly_c = temperature_anomaly_sd_c(day_of_year(start)) * (
            self._temperature_chol @ self._rng.standard_normal(n)
        )
        self._last: WeatherSample | None = None

    @property
    def daily_mean_wind_ms(self) -> np.ndarray:
        """Today's (local date of the last sample) target daily mean wind at 10 m, m/s."""
        return _read_only(self._daily_mean_ms.copy())

    def sample(self, at: datetime) -> WeatherSample:
        """The weather at ``at``: advances every process from the last sampled time.

        Sampling the last time again returns the same values; an earlier time raises
        ValueError. Naive datetimes are Europe/Stockholm local time.
        """
        at = _aware(at)
        target_s = at.timestamp()
        if target_s < self._time_s:
            raise ValueError("weather can only be sampled forward in time")
        if self._last is not None and target_s == self._time_s:
            return self._last
        self._advance_to(target_s)
        day = day_of_year(at)
        temperature = (
            temperature_mean_c(day)
            + diurnal_temperature_c(solar_hour(at, self.longitudes_deg), day)
            + self._temperature_anomaly_c
        )
        self._last = WeatherSample(
            time=at,
            wind_speed_ms=_read_only(np.maximum(self._wind_ms, 0.0)),
            wind_direction_deg=_read_only(self._direction_deg % 360.0),
            temperature_c=_read_only(np.asarray(temperature, dtype=float)),
        )
        return self._last

    # -- internals ------------------------------------------------------------------------------

    def _day_innovation(self, day: date) -> FloatArray:
        """Standard normals for the daily driver of ``day``: a function of seed and date only."""
        rng = np.random.default_rng([self._seed, 1, day.toordinal()])
        return rng.standard_normal(self.latitudes_deg.size)

    def _set_day(self, day: date) -> None:
        """Make ``day`` the current local day: its daily mean wind and next midnight."""
        self._day = day
        midnight = datetime.combine(day, time(0), tzinfo=LOCAL_TIMEZONE)
        next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_TIMEZONE)
        self._next_midnight_s = next_midnight.timestamp()
        season = day_of_year(midnight) + 0.5
        self._daily_mean_ms = weibull_from_normal(
            self._daily_normal, seasonal_weibull_scale_ms(season)
        )
        self._wind_sd_ms = np.maximum(
            WIND_INTRADAY_RELATIVE_SD * self._daily_mean_ms, WIND_INTRADAY_MIN_SD_MS
        )

    def _next_day(self) -> None:
        """Move to the next local day: AR(1) step of the spatially correlated daily driver."""
        day = self._day + timedelta(days=1)
        innovation = self._daily_chol @ self._day_innovation(day)
        phi = DAILY_WIND_PERSISTENCE
        self._daily_normal = phi * self._daily_normal + math.sqrt(1.0 - phi * phi) * innovation
        self._set_day(day)

    def _advance_to(self, target_s: float) -> None:
        """Advance every process to ``target_s``, splitting the step at each local midnight."""
        while self._time_s < target_s:
            end_s = min(target_s, self._next_midnight_s)
            self._step(end_s - self._time_s)
            self._time_s = end_s
            if end_s == self._next_midnight_s:
                self._next_day()

    def _step(self, dt_s: float) -> None:
        """One exact OU step of ``dt_s`` seconds within the current local day."""
        n = self.latitudes_deg.size
        noise = self._rng.standard_normal((3, n))
        self._wind_ms = ornstein_uhlenbeck_step(
            self._wind_ms,
            self._daily_mean_ms,
            self._wind_sd_ms,
            dt_s,
            WIND_TIME_CONSTANT_S,
            self._intraday_chol @ noise[0],
        )
        self._direction_deg = ornstein_uhlenbeck_step(
            self._direction_deg,
            WIND_DIRECTION_PREVAILING_DEG,
            WIND_DIRECTION_SD_DEG,
            dt_s,
            WIND_DIRECTION_TIME_CONSTANT_S,
            self._intraday_chol @ noise[1],
        )
        season = _day_of_year_at(self._time_s)
        self._temperature_anomaly_c = ornstein_uhlenbeck_step(
            self._temperature_anomaly_c,
            0.0,
            temperature_anomaly_sd_c(season),
            dt_s,
            TEMPERATURE_TIME_CONSTANT_S,
            self._temperature_chol @ noise[2],
        )
