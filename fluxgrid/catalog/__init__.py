"""Canonical variables: names, units, CF attributes and source-column aliases.

The catalog is the single place that says ``TA_F`` is ``ta`` in degC and that NEE is
``umolCO2 m-2 s-1`` half-hourly but ``gC m-2 d-1`` daily. Readers use it to rename and to
attach attributes; resampling uses it to choose mean or sum.

Examples
--------
>>> from fluxgrid import catalog
>>> catalog.get("ta").units
'degC'
>>> catalog.resolve_column("NEE_VUT_REF")
'nee'
>>> catalog.units_for("nee", "HH")
'umolCO2 m-2 s-1'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from ..errors import DataNotFoundError

__all__ = [
    "SUBDAILY",
    "Variable",
    "cf_attrs",
    "get",
    "names",
    "qc_attrs",
    "qc_name",
    "resolve_column",
    "units_for",
    "variables",
]

#: FLUXNET resolution codes finer than one day
SUBDAILY = frozenset({"HH", "HR"})


@dataclass(frozen=True)
class Variable:
    """One canonical variable of the catalog (see ``variables.yaml``)."""

    name: str
    long_name: str
    standard_name: str
    units: str
    aggregation: str
    aliases: tuple[str, ...]
    qc_aliases: tuple[str, ...] = ()
    qc_from: str | None = None
    units_subdaily: str | None = None
    units_yearly: str | None = None
    carbon: bool = False
    comment: str = ""


@cache
def variables() -> dict[str, Variable]:
    """All catalog variables by canonical name (loaded once from ``variables.yaml``)."""
    text = resources.files(__package__).joinpath("variables.yaml").read_text()
    raw = yaml.safe_load(text)
    out = {}
    for name, spec in raw.items():
        spec = dict(spec)
        spec["aliases"] = tuple(spec.get("aliases", ()))
        spec["qc_aliases"] = tuple(spec.get("qc_aliases", ()))
        out[name] = Variable(name=name, **spec)
    return out


def names() -> list[str]:
    """Canonical variable names, in catalog order."""
    return list(variables())


def get(name: str) -> Variable:
    """Return the catalog entry of canonical variable ``name``.

    Raises
    ------
    DataNotFoundError
        If ``name`` is not a canonical variable (the message lists the known ones).
    """
    try:
        return variables()[name]
    except KeyError:
        raise DataNotFoundError(
            f"{name!r} is not a canonical fluxgrid variable; known: {', '.join(names())}"
        ) from None


def qc_name(name: str) -> str:
    """Name of the QC companion of ``name`` (GPP and RECO share NEE's)."""
    var = variables().get(name)
    base = var.qc_from if var is not None and var.qc_from else name
    return f"{base}_qc"


@cache
def _alias_index() -> dict[str, tuple[str, int, bool]]:
    # column -> (canonical name, preference rank, is_qc); the first listed alias wins
    index: dict[str, tuple[str, int, bool]] = {}
    for var in variables().values():
        for rank, col in enumerate(var.aliases):
            index.setdefault(col.upper(), (var.name, rank, False))
        for rank, col in enumerate(var.qc_aliases):
            index.setdefault(col.upper(), (var.name, rank, True))
    return index


def resolve_column(column: str) -> str | None:
    """Canonical name for a source column (``TA_F`` -> ``ta``, ``TA_F_QC`` -> ``ta_qc``).

    Returns ``None`` for columns the catalog does not know.
    """
    hit = _alias_index().get(column.upper())
    if hit is None:
        return None
    name, _, is_qc = hit
    return f"{name}_qc" if is_qc else name


def alias_rank(column: str) -> int:
    """Preference rank of a source column among its variable's aliases (0 is best)."""
    hit = _alias_index().get(column.upper())
    return hit[1] if hit else 1_000_000


def units_for(name: str, resolution: str = "DD") -> str:
    """Canonical unit of ``name`` at a FLUXNET resolution code (HH, HR, DD, WW, MM, YY)."""
    var = get(name)
    if resolution in SUBDAILY and var.units_subdaily:
        return var.units_subdaily
    if resolution == "YY" and var.units_yearly:
        return var.units_yearly
    return var.units


def cf_attrs(name: str, resolution: str = "DD") -> dict[str, str]:
    """CF attributes (units, long_name, standard_name) for ``name`` at ``resolution``."""
    var = get(name)
    attrs = {"units": units_for(name, resolution), "long_name": var.long_name}
    if var.standard_name:
        attrs["standard_name"] = var.standard_name
    if var.comment:
        attrs["comment"] = var.comment
    return attrs


def qc_attrs(name: str, resolution: str = "DD") -> dict[str, str]:
    """Attributes of the QC companion of ``name`` (flags sub-daily, fractions otherwise)."""
    long_name = f"quality of {get(name).long_name}"
    if resolution in SUBDAILY:
        return {
            "long_name": f"{long_name} (flag)",
            "units": "1",
            "flag_values": "0 1 2 3",
            "flag_meanings": "measured good_gapfill medium_gapfill poor_gapfill",
        }
    return {
        "long_name": f"{long_name}: fraction of measured or good gap-filled records",
        "units": "1",
        "valid_range": "0 1",
    }
