"""Unit conversion to canonical units, done once at the reading boundary.

Only the units that flux and meteorological tables actually use are known; anything else is
refused with a :class:`~fluxgrid.errors.UnitError` listing the accepted spellings. Totals per
calendar month or year (``gC m-2 mon-1``) need the time axis to become daily rates.

Examples
--------
>>> import numpy as np
>>> from fluxgrid.catalog.units import convert
>>> convert(np.array([273.15]), "K", "degC")
array([0.])
>>> round(float(convert(np.array([1.0]), "umolCO2 m-2 s-1", "gC m-2 d-1")[0]), 6)
1.03775
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import UnitError

__all__ = ["UMOL_CO2_TO_GC_PER_DAY", "convert", "normalise", "same_dimension"]

#: umol CO2 m-2 s-1 -> gC m-2 d-1 (molar mass of carbon 12.011 g mol-1, 86400 s per day)
UMOL_CO2_TO_GC_PER_DAY = 12.011e-6 * 86400.0
_C_PER_CO2 = 12.011 / 44.0095

# unit -> (dimension, factor to the dimension's base unit, offset, calendar period or None)
# base units: degC, Pa, W m-2, gC m-2 d-1, mm d-1, mm, m s-1, %, umol m-2 s-1, umol mol-1, 1
_UNITS: dict[str, tuple[str, float, float, str | None]] = {
    "degC": ("temperature", 1.0, 0.0, None),
    "K": ("temperature", 1.0, -273.15, None),
    "degF": ("temperature", 5.0 / 9.0, -32.0 * 5.0 / 9.0, None),
    "Pa": ("pressure", 1.0, 0.0, None),
    "hPa": ("pressure", 100.0, 0.0, None),
    "kPa": ("pressure", 1000.0, 0.0, None),
    "W m-2": ("energy_flux", 1.0, 0.0, None),
    "MJ m-2 d-1": ("energy_flux", 1e6 / 86400.0, 0.0, None),
    "J m-2 d-1": ("energy_flux", 1.0 / 86400.0, 0.0, None),
    "gC m-2 d-1": ("carbon_flux", 1.0, 0.0, None),
    "umolCO2 m-2 s-1": ("carbon_flux", UMOL_CO2_TO_GC_PER_DAY, 0.0, None),
    "mgCO2 m-2 s-1": ("carbon_flux", 1e-3 * _C_PER_CO2 * 86400.0, 0.0, None),
    "gCO2 m-2 d-1": ("carbon_flux", _C_PER_CO2, 0.0, None),
    "gC m-2 h-1": ("carbon_flux", 24.0, 0.0, None),
    "gC m-2 mon-1": ("carbon_flux", 1.0, 0.0, "month"),
    "gC m-2 y-1": ("carbon_flux", 1.0, 0.0, "year"),
    "mm d-1": ("precipitation_rate", 1.0, 0.0, None),
    "mm h-1": ("precipitation_rate", 24.0, 0.0, None),
    "m d-1": ("precipitation_rate", 1000.0, 0.0, None),
    "mm mon-1": ("precipitation_rate", 1.0, 0.0, "month"),
    "mm y-1": ("precipitation_rate", 1.0, 0.0, "year"),
    "mm": ("precipitation_amount", 1.0, 0.0, None),
    "m": ("precipitation_amount", 1000.0, 0.0, None),
    "m s-1": ("speed", 1.0, 0.0, None),
    "km h-1": ("speed", 1.0 / 3.6, 0.0, None),
    "%": ("fraction", 1.0, 0.0, None),
    "m3 m-3": ("fraction", 100.0, 0.0, None),
    "umol m-2 s-1": ("photon_flux", 1.0, 0.0, None),
    "umol mol-1": ("mole_fraction", 1.0, 0.0, None),
    "ppm": ("mole_fraction", 1.0, 0.0, None),
    "1": ("dimensionless", 1.0, 0.0, None),
}

# spelling variants -> canonical spelling
_ALIASES = {
    "c": "degC",
    "°c": "degC",
    "deg c": "degC",
    "degc": "degC",
    "celsius": "degC",
    "k": "K",
    "kelvin": "K",
    "°f": "degF",
    "degf": "degF",
    "pa": "Pa",
    "hpa": "hPa",
    "mbar": "hPa",
    "mb": "hPa",
    "kpa": "kPa",
    "w m-2": "W m-2",
    "w/m2": "W m-2",
    "w/m^2": "W m-2",
    "w m^-2": "W m-2",
    "wm-2": "W m-2",
    "mj m-2 d-1": "MJ m-2 d-1",
    "mj/m2/d": "MJ m-2 d-1",
    "mj/m2/day": "MJ m-2 d-1",
    "j m-2 d-1": "J m-2 d-1",
    "gc m-2 d-1": "gC m-2 d-1",
    "gc/m2/d": "gC m-2 d-1",
    "gc/m2/day": "gC m-2 d-1",
    "g c m-2 d-1": "gC m-2 d-1",
    "umolco2 m-2 s-1": "umolCO2 m-2 s-1",
    "umol co2 m-2 s-1": "umolCO2 m-2 s-1",
    "µmol co2 m-2 s-1": "umolCO2 m-2 s-1",
    "umol/m2/s": "umolCO2 m-2 s-1",
    "µmol/m2/s": "umolCO2 m-2 s-1",
    "umolco2/m2/s": "umolCO2 m-2 s-1",
    "mgco2 m-2 s-1": "mgCO2 m-2 s-1",
    "mg co2 m-2 s-1": "mgCO2 m-2 s-1",
    "mgco2/m2/s": "mgCO2 m-2 s-1",
    "gco2 m-2 d-1": "gCO2 m-2 d-1",
    "gco2/m2/d": "gCO2 m-2 d-1",
    "gc m-2 h-1": "gC m-2 h-1",
    "gc/m2/h": "gC m-2 h-1",
    "gc m-2 mon-1": "gC m-2 mon-1",
    "gc/m2/month": "gC m-2 mon-1",
    "gc m-2 month-1": "gC m-2 mon-1",
    "gc m-2 y-1": "gC m-2 y-1",
    "gc/m2/yr": "gC m-2 y-1",
    "gc m-2 yr-1": "gC m-2 y-1",
    "mm d-1": "mm d-1",
    "mm/d": "mm d-1",
    "mm/day": "mm d-1",
    "mm h-1": "mm h-1",
    "mm/h": "mm h-1",
    "mm mon-1": "mm mon-1",
    "mm/month": "mm mon-1",
    "mm month-1": "mm mon-1",
    "mm y-1": "mm y-1",
    "mm/yr": "mm y-1",
    "m d-1": "m d-1",
    "mm": "mm",
    "m": "m",
    "m s-1": "m s-1",
    "m/s": "m s-1",
    "km h-1": "km h-1",
    "km/h": "km h-1",
    "%": "%",
    "percent": "%",
    "m3 m-3": "m3 m-3",
    "m3/m3": "m3 m-3",
    "umol m-2 s-1": "umol m-2 s-1",
    "µmol m-2 s-1": "umol m-2 s-1",
    "umolphoton m-2 s-1": "umol m-2 s-1",
    "umol photon m-2 s-1": "umol m-2 s-1",
    "umol mol-1": "umol mol-1",
    "µmol mol-1": "umol mol-1",
    "ppm": "ppm",
    "1": "1",
    "-": "1",
    "fraction": "1",
    "adimensional": "1",
    "nondimensional": "1",
}


def normalise(units: str) -> str:
    """Canonical spelling of a unit string, e.g. ``"W/m2"`` -> ``"W m-2"``.

    Raises
    ------
    UnitError
        If the unit is not known; the message lists what is accepted.
    """
    if units in _UNITS:
        return units
    key = re.sub(r"\s+", " ", str(units).strip().lower())
    if key in _ALIASES:
        return _ALIASES[key]
    raise UnitError(f"unknown unit {units!r}; known units: {', '.join(_UNITS)}")


def same_dimension(a: str, b: str) -> bool:
    """Whether units ``a`` and ``b`` measure the same quantity (convertible)."""
    return _UNITS[normalise(a)][0] == _UNITS[normalise(b)][0]


def _days_in_period(time: np.ndarray | pd.DatetimeIndex, period: str) -> np.ndarray:
    index = pd.DatetimeIndex(time)
    if period == "month":
        return np.asarray(index.days_in_month, dtype="float64")
    return np.where(index.is_leap_year, 366.0, 365.0)


def convert(
    values: np.ndarray,
    from_units: str,
    to_units: str,
    *,
    time: np.ndarray | pd.DatetimeIndex | None = None,
    what: str = "values",
) -> np.ndarray:
    """Convert ``values`` from ``from_units`` to ``to_units``.

    Parameters
    ----------
    values
        Array of any shape; the last axis is time when a calendar total is converted.
    from_units, to_units
        Unit strings (see :func:`normalise` for accepted spellings).
    time
        Time stamps along the last axis; needed only for totals per month or year
        (``gC m-2 mon-1``, ``mm y-1``), which become daily rates by dividing by the days.
    what
        Name used in error messages (a column or variable name).

    Returns
    -------
    numpy.ndarray
        Converted values, float.
    """
    src, dst = normalise(from_units), normalise(to_units)
    if src == dst:
        return (
            np.asarray(values, dtype="float64")
            if np.asarray(values).dtype.kind in "iub"
            else values
        )
    dim_s, fac_s, off_s, per_s = _UNITS[src]
    dim_d, fac_d, off_d, per_d = _UNITS[dst]
    if dim_s != dim_d:
        raise UnitError(
            f"{what}: cannot convert {from_units!r} to {to_units!r} (different quantities)"
        )
    out = np.asarray(values, dtype="float64") * fac_s + off_s
    if per_s or per_d:
        if time is None:
            raise UnitError(
                f"{what}: converting {from_units!r} to {to_units!r} needs the time axis "
                "(totals per month or year depend on the number of days)"
            )
        if per_s:
            out = out / _days_in_period(time, per_s)
        if per_d:
            out = out * _days_in_period(time, per_d)
    return (out - off_d) / fac_d
