"""Batteries: power limits, efficiency losses, and the energy they hold.

A prosumer's batteries act as one bank (capacities and power limits add up),
so one element per member describes them all. Energy moves as power x time
step: charging ``P`` kW for ``dt`` hours stores ``P x dt x eta_charge`` kWh;
delivering ``P`` kW draws ``P x dt / eta_discharge`` kWh. Default
efficiencies of 0.95 each give a round trip of about 90 %, the figure Tesla
publishes for the Powerwall 2 (13.5 kWh, 5 kW continuous).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHARGE_EFFICIENCY = 0.95
DISCHARGE_EFFICIENCY = 0.95


@dataclass
class BatteryBank:
    """One bank per member, as arrays; ``stored_kwh`` changes every tick."""

    capacity_kwh: np.ndarray
    max_charge_kw: np.ndarray
    max_output_kw: np.ndarray
    stored_kwh: np.ndarray
    charge_efficiency: np.ndarray
    discharge_efficiency: np.ndarray

    @classmethod
    def build(
        cls,
        capacity_kwh: np.ndarray,
        max_charge_kw: np.ndarray,
        max_output_kw: np.ndarray,
        stored_kwh: np.ndarray | None = None,
        charge_efficiency: float | np.ndarray = CHARGE_EFFICIENCY,
        discharge_efficiency: float | np.ndarray = DISCHARGE_EFFICIENCY,
    ) -> BatteryBank:
        """A bank from its ratings; stored energy defaults to empty and is clipped."""
        capacity = np.asarray(capacity_kwh, dtype=float).copy()
        stored = (
            np.zeros_like(capacity)
            if stored_kwh is None
            else np.clip(np.asarray(stored_kwh, dtype=float), 0.0, capacity)
        )
        return cls(
            capacity_kwh=capacity,
            max_charge_kw=np.asarray(max_charge_kw, dtype=float).copy(),
            max_output_kw=np.asarray(max_output_kw, dtype=float).copy(),
            stored_kwh=stored,
            charge_efficiency=np.broadcast_to(
                np.asarray(charge_efficiency, float), capacity.shape
            ).copy(),
            discharge_efficiency=np.broadcast_to(
                np.asarray(discharge_efficiency, float), capacity.shape
            ).copy(),
        )

    @classmethod
    def empty(cls, n: int) -> BatteryBank:
        """``n`` members without batteries."""
        zeros = np.zeros(n)
        return cls.build(zeros, zeros, zeros)

    def charge_limit_kw(self, dt_h: float) -> np.ndarray:
        """Most power the bank can take for ``dt_h`` hours, kW."""
        headroom_kw = (self.capacity_kwh - self.stored_kwh) / (self.charge_efficiency * dt_h)
        return np.minimum(self.max_charge_kw, headroom_kw)

    def discharge_limit_kw(self, dt_h: float) -> np.ndarray:
        """Most power the bank can deliver for ``dt_h`` hours, kW."""
        return np.minimum(self.max_output_kw, self.stored_kwh * self.discharge_efficiency / dt_h)

    def apply(self, charge_kw: np.ndarray, discharge_kw: np.ndarray, dt_h: float) -> np.ndarray:
        """Move energy in place; returns the change of stored energy, kWh.

        ``charge_kw`` and ``discharge_kw`` must lie within the limits above;
        the final clip only absorbs floating-point rounding.
        """
        delta_kwh = (
            charge_kw * self.charge_efficiency - discharge_kw / self.discharge_efficiency
        ) * dt_h
        before = self.stored_kwh.copy()
        np.clip(self.stored_kwh + delta_kwh, 0.0, self.capacity_kwh, out=self.stored_kwh)
        return self.stored_kwh - before

    def losses_kw(self, charge_kw: np.ndarray, discharge_kw: np.ndarray) -> np.ndarray:
        """Power lost to conversion, kW: what goes in minus what is stored or taken out."""
        return charge_kw * (1.0 - self.charge_efficiency) + discharge_kw * (
            1.0 / self.discharge_efficiency - 1.0
        )
