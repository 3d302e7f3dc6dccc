"""Derive the hourly BDEW H0 household load tables from demandlib.

Writes two committed tables that the runtime reads (it never imports demandlib):

- ``services/physics/data/h0_hourly.csv``: for each BDEW season (winter,
  transition, summer) and day type (workday, Saturday, Sunday), the mean H0 load
  in each hour of the day divided by the mean load over the whole year
  (dimensionless, about 1 on average).
- ``services/physics/data/h0_timefn.csv``: the year-average daily shape (for each
  hour, the mean over all days of the year) divided by its maximum, so it lies in
  [0, 1] with a maximum of exactly 1.

Source: the static BDEW standard load profile H0 ("h0", not the dynamised
"h0_dyn") as shipped by demandlib 0.2.2 (oemof, MIT licence),
``demandlib.bdew.ElecSlp``. No public holidays are passed, so every weekday
Monday-Friday is a workday. The year is 2023 (not a leap year).

demandlib is deliberately kept out of the project's dependencies: version 0.2.2
calls ``warnings.simplefilter("error")`` inside ``ElecSlp`` and so turns every
warning into an error process-wide (with pandas 3.1 its own deprecated
``inplace=True`` then fails). This script builds the profile with that one call
disabled, inside ``warnings.catch_warnings()``, which restores the filters after.

Run it in a throwaway virtual environment, from the repository root::

    python -m venv /tmp/h0 && /tmp/h0/bin/pip install demandlib==0.2.2
    /tmp/h0/bin/python scripts/derive_h0_profile.py
"""

from __future__ import annotations

import calendar
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from demandlib import bdew

YEAR = 2023
DATA_DIR = Path(__file__).resolve().parents[1] / "services" / "physics" / "data"

# BDEW season boundaries as (start month, start day, end month, end day), the
# defaults of demandlib 0.2.2's ElecSlp; checked against the library below.
BDEW_SEASONS = {
    "summer1": [5, 15, 9, 14],
    "transition1": [3, 21, 5, 14],
    "transition2": [9, 15, 10, 31],
    "winter1": [1, 1, 3, 20],
    "winter2": [11, 1, 12, 31],
}
SEASONS = ("winter", "transition", "summer")
DAY_TYPES = ("workday", "saturday", "sunday")


@contextmanager
def warnings_not_turned_into_errors() -> Iterator[None]:
    """Run a block with warnings left as warnings, whatever it asks of the filters.

    demandlib 0.2.2 calls ``warnings.simplefilter("error")`` inside ``ElecSlp``;
    with pandas 3.1 its own ``sort_index(inplace=True)`` then raises a
    Pandas4Warning (a deprecation notice, not a wrong result). Inside this block
    that one call is ignored, and ``catch_warnings`` restores the filters after.
    """
    real_simplefilter = warnings.simplefilter

    def simplefilter(action, *args, **kwargs):  # type: ignore[no-untyped-def]
        if action != "error":
            real_simplefilter(action, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter = simplefilter
        try:
            yield
        finally:
            warnings.simplefilter = real_simplefilter


def h0_quarter_hours(year: int) -> pd.Series:
    """The static H0 profile of ``year`` in 15-minute steps (fractions of the year's energy)."""
    with warnings_not_turned_into_errors():
        slp = bdew.ElecSlp(year)
    if slp._seasons != BDEW_SEASONS:
        raise RuntimeError(f"demandlib's BDEW seasons changed: {slp._seasons}")
    return slp.get_profiles("h0")["h0"]


def season_of(day: pd.Timestamp) -> str:
    """The BDEW season ('winter', 'transition', 'summer') that ``day`` falls in."""
    for name, (m0, d0, m1, d1) in BDEW_SEASONS.items():
        if (m0, d0) <= (day.month, day.day) <= (m1, d1):
            return name[:-1]
    raise ValueError(f"{day} is in no BDEW season")


def day_type_of(day: pd.Timestamp) -> str:
    """'workday' (Monday-Friday), 'saturday' or 'sunday'."""
    return {5: "saturday", 6: "sunday"}.get(day.weekday(), "workday")


def hourly_relative_load(h0: pd.Series) -> pd.DataFrame:
    """Hourly mean load divided by the annual mean, with season, day type and hour columns."""
    hourly = h0.resample("1h").mean() / h0.mean()
    frame = hourly.to_frame("load")
    days = frame.index.normalize()
    frame["season"] = [season_of(d) for d in days]
    frame["day_type"] = [day_type_of(d) for d in days]
    frame["hour"] = frame.index.hour
    return frame


def provenance(title: str, method: str) -> str:
    """The '#'-comment header that records where a table comes from."""
    lines = [
        title,
        f"Source: BDEW standard load profile H0 (static 'h0', not 'h0_dyn'), "
        f"demandlib {version('demandlib')} (oemof, MIT licence), bdew.ElecSlp({YEAR}).",
        f"Year {YEAR} (not a leap year), no public holidays; workday = Monday-Friday.",
        "BDEW seasons: winter 1 Nov-20 Mar, transition 21 Mar-14 May and 15 Sep-31 Oct, "
        "summer 15 May-14 Sep.",
        "Static H0 keeps the seasons' daily shapes but hardly their levels (winter workday "
        "below summer); BDEW puts the seasonal level in the h0_dyn factor, not used here.",
        method,
        "Derived by scripts/derive_h0_profile.py (see its docstring to rerun).",
    ]
    return "".join(f"# {line}\n" for line in lines)


def main() -> None:
    """Derive both tables and write them to services/physics/data/."""
    if calendar.isleap(YEAR):
        raise RuntimeError("use a non-leap year")
    frame = hourly_relative_load(h0_quarter_hours(YEAR))

    table = frame.pivot_table(index="hour", columns=["season", "day_type"], values="load")
    columns = [(s, d) for s in SEASONS for d in DAY_TYPES]
    table = table[columns]
    table.columns = [f"{s}_{d}" for s, d in columns]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / "h0_hourly.csv", "w", newline="") as out:
        out.write(
            provenance(
                "H0 household load by hour, season and day type (dimensionless).",
                "Value = mean load in that hour on days of that season and day type, "
                "divided by the mean load over the whole year.",
            )
        )
        table.to_csv(out, float_format="%.6f")

    shape = frame.groupby("hour")["load"].mean()
    timefn = (shape / shape.max()).rename("timefn")
    with open(DATA_DIR / "h0_timefn.csv", "w", newline="") as out:
        out.write(
            provenance(
                "H0 year-average daily shape, scaled to a maximum of 1 (dimensionless).",
                "Value = mean over all days of the year of the load in that hour, "
                "divided by the largest such hourly mean.",
            )
        )
        timefn.to_csv(out, float_format="%.6f")

    winter = table["winter_workday"]
    print(
        f"winter workday: peak at {int(winter.idxmax())}:00, "
        f"{winter.max() / winter.mean():.3f} x that day's mean"
    )
    print(f"year-average shape: peak at {int(timefn.idxmax())}:00")


if __name__ == "__main__":
    main()
