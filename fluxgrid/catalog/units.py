"""Unit conversion to canonical units, done once at the reading boundary.

The units that flux and meteorological tables use are known by name (with their usual
spellings, ``W/m2``, ``mm/day``, ``percent``); any other spelling in the UDUNITS grammar
(products of prefixed symbols with integer exponents, ``/`` for division: ``kg/m2/s``,
``kg m**-2 s^-1``, ``MJ.m-2.d-1``) is parsed into SI dimensions and matched to the quantity it
measures, so ``kg m-2 s-1`` of water converts to ``mm d-1``. A unit that is neither is refused
with a :class:`~fluxgrid.errors.UnitError` listing the known ones. Totals per calendar month or
year (``gC m-2 mon-1``) need the time axis to become daily rates.

Examples
--------
>>> import numpy as np
>>> from fluxgrid.catalog.units import convert
>>> convert(np.array([273.15]), "K", "degC")
array([0.])
>>> round(float(convert(np.array([1.0]), "umolCO2 m-2 s-1", "gC m-2 d-1")[0]), 6)
1.03775
>>> convert(np.array([1.0]), "kg/m2/s", "mm/day")
array([86400.])
"""

from __future__ import annotations

import re
from functools import cache

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
    "degree_celsius": "degC",
    "degrees_celsius": "degC",
    "degree_c": "degC",
    "degrees_c": "degC",
    "deg_c": "degC",
    "degk": "K",
    "degree_kelvin": "K",
    "degrees_kelvin": "K",
}

# UDUNITS symbols: symbol -> (factor to SI, dimension exponents (kg, m, s, mol, gC))
_M, _L, _T, _N, _C = range(5)


def _dims(**exp: int) -> tuple[int, ...]:
    out = [0] * 5
    for name, e in exp.items():
        out[{"M": _M, "L": _L, "T": _T, "N": _N, "C": _C}[name]] = e
    return tuple(out)


_SYMBOLS: dict[str, tuple[float, tuple[int, ...]]] = {
    "g": (1e-3, _dims(M=1)),
    "t": (1e3, _dims(M=1)),
    "m": (1.0, _dims(L=1)),
    "s": (1.0, _dims(T=1)),
    "sec": (1.0, _dims(T=1)),
    "second": (1.0, _dims(T=1)),
    "min": (60.0, _dims(T=1)),
    "minute": (60.0, _dims(T=1)),
    "h": (3600.0, _dims(T=1)),
    "hr": (3600.0, _dims(T=1)),
    "hour": (3600.0, _dims(T=1)),
    "d": (86400.0, _dims(T=1)),
    "day": (86400.0, _dims(T=1)),
    "Pa": (1.0, _dims(M=1, L=-1, T=-2)),
    "bar": (1e5, _dims(M=1, L=-1, T=-2)),
    "J": (1.0, _dims(M=1, L=2, T=-2)),
    "W": (1.0, _dims(M=1, L=2, T=-3)),
    "mol": (1.0, _dims(N=1)),
    "l": (1e-3, _dims(L=3)),
    "L": (1e-3, _dims(L=3)),
    # carbon: grams of carbon, whatever the species weighed
    "gC": (1.0, _dims(C=1)),
    "gCO2": (12.011 / 44.0095, _dims(C=1)),
    "molC": (12.011, _dims(C=1)),
    "molCO2": (12.011, _dims(C=1)),
}
# calendar periods (a rate per month or year is a total over a varying number of days)
_PERIODS = {
    "mon": "month",
    "month": "month",
    "y": "year",
    "yr": "year",
    "year": "year",
    "a": "year",
}
_PREFIXES = {
    "G": 1e9, "M": 1e6, "k": 1e3, "h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3,
    "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9,
}  # fmt: skip
_SUPERSCRIPTS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def _symbol(sym: str) -> tuple[float, tuple[int, ...]] | None:
    """SI factor and dimensions of a (prefixed) symbol, or None if unknown."""
    if sym in _SYMBOLS:
        return _SYMBOLS[sym]
    for prefix in sorted(_PREFIXES, key=len, reverse=True):
        base = sym[len(prefix) :]
        if sym.startswith(prefix) and base in _SYMBOLS:
            factor, dims = _SYMBOLS[base]
            return _PREFIXES[prefix] * factor, dims
    return None


def _parse(units: str) -> tuple[float, tuple[int, ...], str | None] | None:
    """``(SI factor, dimensions, calendar period)`` of a UDUNITS product, or None."""
    text = str(units).strip().translate(_SUPERSCRIPTS)
    text = text.replace("**", "").replace("^", "").replace("·", " ").replace("*", " ")
    text = re.sub(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z])", " ", text)  # "m.s-1" (UDUNITS dot)
    factor, dims, period = 1.0, [0] * 5, None
    for k, part in enumerate(text.split("/")):
        terms = part.split()
        if not terms or (k and len(terms) > 1):
            return None  # "a/b c" is ambiguous; UDUNITS reads it as (a/b) c, users rarely mean it
        for term in terms:
            hit = re.fullmatch(r"([A-Za-zµμ]+?(?:CO2)?)(-?\d+)?", term)
            if hit is None:
                return None
            sym, exp = hit.group(1), int(hit.group(2) or 1) * (-1 if k else 1)
            if sym in _PERIODS and exp == -1 and period is None:
                period = _PERIODS[sym]
                continue
            found = _symbol(sym)
            if found is None:
                return None
            factor *= found[0] ** exp
            dims = [d + exp * e for d, e in zip(dims, found[1], strict=True)]
    if dims[_M] == 1 and dims[_L] == -2 and not dims[_C]:
        # mass of water per area is a depth: 1 kg m-2 = 1 mm
        dims[_M], dims[_L], factor = 0, 1, factor * 1e-3
    return factor, tuple(dims), period


@cache
def _parsed_table() -> list[tuple[str, float, tuple[int, ...], str | None]]:
    """The known units that have dimensions, parsed (to match other spellings against)."""
    out = []
    for name in _UNITS:
        parsed = _parse(name)
        if parsed is not None and any(parsed[1]):
            out.append((name, *parsed))
    return out


@cache
def _entry(units: str) -> tuple[str, tuple[str, float, float, str | None]]:
    """Canonical spelling and ``(dimension, factor to base, offset, period)`` of ``units``."""
    if units in _UNITS:
        return units, _UNITS[units]
    key = re.sub(r"\s+", " ", str(units).strip().lower())
    if key in _ALIASES:
        return _ALIASES[key], _UNITS[_ALIASES[key]]
    parsed = _parse(units)
    if parsed is not None and any(parsed[1]):
        factor, dims, period = parsed
        same = [row for row in _parsed_table() if row[2] == dims and row[3] == period]
        for name, k_factor, _, _ in same:
            if np.isclose(factor, k_factor, rtol=1e-9, atol=0):
                return name, _UNITS[name]
        if same:
            name, k_factor = same[0][:2]
            dimension, to_base, offset, _ = _UNITS[name]
            spelled = re.sub(r"\s+", " ", str(units).strip())
            return spelled, (dimension, to_base * factor / k_factor, offset, period)
    raise UnitError(
        f"unknown unit {units!r}; known units: {', '.join(_UNITS)} (or any UDUNITS spelling "
        "of them, e.g. 'W/m2', 'kg m-2 s-1')"
    )


def normalise(units: str) -> str:
    """Canonical spelling of a unit string, e.g. ``"W/m2"`` -> ``"W m-2"``.

    A UDUNITS spelling equal to a known unit gives that unit (``"kg/m2/s"`` is not one and
    stays ``"kg/m2/s"``, a precipitation rate).

    Raises
    ------
    UnitError
        If the unit is not known; the message lists what is accepted.

    Examples
    --------
    >>> normalise("W/m2"), normalise("mm/day"), normalise("percent"), normalise("J m**-2 s^-1")
    ('W m-2', 'mm d-1', '%', 'W m-2')
    """
    return _entry(units)[0]


def same_dimension(a: str, b: str) -> bool:
    """Whether units ``a`` and ``b`` measure the same quantity (convertible)."""
    return _entry(a)[1][0] == _entry(b)[1][0]


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
    (src, info_s), (dst, info_d) = _entry(from_units), _entry(to_units)
    if src == dst:
        return (
            np.asarray(values, dtype="float64")
            if np.asarray(values).dtype.kind in "iub"
            else values
        )
    dim_s, fac_s, off_s, per_s = info_s
    dim_d, fac_d, off_d, per_d = info_d
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
