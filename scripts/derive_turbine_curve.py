"""Derive the normalised Bergey Excel 10 power curve from NREL's turbine-models.

Writes ``services/physics/data/turbine_curve.csv`` with columns
``wind_speed_ms,power_fraction``: the published points (hub-height wind speed in
m/s, 0.5 to 20.5 m/s in 0.5 m/s steps) with power_fraction = max(P, 0) / max(P),
where P is the published electrical power in kW. Negative entries (the
controller's own draw below cut-in) become 0. The curve is normalised to its
maximum, not to the 8.9 kW nameplate, because the runtime scales it by a
turbine's maximum power output.

Source: ``turbine-models`` 0.2.2 (PyPI; NREL, BSD licence), files
``specs/Distributed/BergeyExcel10_8.9kW_7.yaml`` and
``data/Distributed/BergeyExcel10_8.9kW_7.csv`` inside the package.

Run it in a throwaway virtual environment, from the repository root::

    python -m venv /tmp/h0 && /tmp/h0/bin/pip install turbine-models==0.2.2
    /tmp/h0/bin/python scripts/derive_turbine_curve.py
"""

from __future__ import annotations

import csv
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import yaml

SPEC = "specs/Distributed/BergeyExcel10_8.9kW_7.yaml"
CURVE = "data/Distributed/BergeyExcel10_8.9kW_7.csv"
OUT = Path(__file__).resolve().parents[1] / "services" / "physics" / "data" / "turbine_curve.csv"


def published_curve() -> tuple[dict[str, object], list[tuple[float, float]]]:
    """The turbine's spec and its published (wind speed m/s, power kW) points."""
    package = files("turbine_models")
    spec = yaml.safe_load(package.joinpath(SPEC).read_text())
    if spec["power_curve_file"] != CURVE.removeprefix("data/"):
        raise RuntimeError(f"spec points at another curve: {spec['power_curve_file']}")
    rows = csv.DictReader(package.joinpath(CURVE).read_text().splitlines())
    points = [(float(r["Wind Speed [m/s]"]), float(r["Power [kW]"])) for r in rows]
    return spec, points


def main() -> None:
    """Write the normalised curve with its provenance header."""
    spec, points = published_curve()
    peak_kw = max(p for _, p in points)
    speeds = [v for v, _ in points]
    if speeds != sorted(speeds):
        raise RuntimeError("published wind speeds are not increasing")
    header = [
        "Bergey Excel 10 power curve, normalised to its maximum (dimensionless).",
        f"Source: turbine-models {version('turbine-models')} (NREL, PyPI, BSD licence), "
        f"{SPEC} and {CURVE}.",
        f"Spec: {spec['name']}, rated {spec['rated_power']} kW at "
        f"{spec['rated_wind_speed']} m/s, cut-in {spec['cut_in_wind_speed']} m/s, rotor "
        f"{spec['rotor_diameter']} m, curve type {spec['power_curve_type']}.",
        f"power_fraction = max(P, 0) / {peak_kw} kW (the curve's maximum; "
        "negative P below cut-in set to 0). Wind speed at hub height, m/s.",
        "Derived by scripts/derive_turbine_curve.py (see its docstring to rerun).",
    ]
    with open(OUT, "w", newline="") as out:
        out.writelines(f"# {line}\n" for line in header)
        out.write("wind_speed_ms,power_fraction\n")
        for speed, power_kw in points:
            out.write(f"{speed:g},{max(power_kw, 0.0) / peak_kw:.6f}\n")
    print(f"{len(points)} points, {speeds[0]}-{speeds[-1]} m/s, peak {peak_kw} kW")


if __name__ == "__main__":
    main()
