"""Daily driver grids ready for inference: checked, completed, or built from a config.

:func:`prepare_drivers` checks a daily grid against the model inputs of the site cube
(names, units, a regular daily axis) and adds the static/calendar inputs models may use;
:func:`drivers_from_config` builds the drivers a :class:`fluxgrid.config.DriversConfig`
describes (ERA5 files, optionally regridded).

Examples
--------
>>> drivers = prepare_drivers(read_era5("era5_2010_*.nc"), mask=land)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from ..catalog.units import normalise
from ..errors import GridError
from .core import (
    DRIVER_VARIABLES,
    convert_lazy,
    make_grid,
    standardise_grid,
    variable_units,
    with_coord_attrs,
)
from .era5 import missing_driver_message, read_era5
from .regrid import regrid

__all__ = ["drivers_from_config", "prepare_drivers"]


def _check_daily_axis(ds: xr.Dataset, variables: Sequence[str]) -> None:
    """Every driver present, time on a regular daily axis; GridError naming the fix."""
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        hint = missing_driver_message(missing[0], ds)
        raise GridError(
            f"drivers {missing} missing; {hint}. Convert raw ERA5 fields with era5_to_daily()"
        )
    time = ds["time"].values
    if time.size > 1 and np.any(np.diff(time) != np.timedelta64(1, "D")):
        raise GridError(
            "the driver grid is not on a regular daily axis; aggregate with era5_to_daily() "
            "and fill gaps (reindex onto every day) before inference"
        )


def _with_mask(result: xr.Dataset, mask: xr.DataArray) -> xr.Dataset:
    """``land`` coordinate from ``mask``, which must be on the drivers' grid."""
    if not (
        np.array_equal(mask["lat"].values, result["lat"].values)
        and np.array_equal(mask["lon"].values, result["lon"].values)
    ):
        raise GridError(
            "mask is on another grid than the drivers; build it with target=drivers "
            "(e.g. land_mask(lsm, target=drivers))"
        )
    result = result.assign_coords(land=(("lat", "lon"), np.asarray(mask.values, dtype=bool)))
    result["land"].attrs = dict(mask.attrs)
    return result


def prepare_drivers(
    ds: xr.Dataset,
    *,
    variables: Sequence[str] = DRIVER_VARIABLES,
    mask: xr.DataArray | None = None,
) -> xr.Dataset:
    """Check and complete a daily driver grid for model inference.

    The result has exactly the model inputs of the daily site cube (same canonical names
    and units; units are converted where they differ), float32, dims ``(time, lat, lon)``,
    plus the static/calendar inputs models may use: coordinates ``lat``/``lon`` (the cell
    centres, ``latitude``/``longitude`` of a site), ``doy`` (day of year, ``time``), and
    ``land`` (bool ``(lat, lon)``) when ``mask`` is given, so inference can skip other cells.

    Parameters
    ----------
    ds
        Daily grid (e.g. from :func:`fluxgrid.grids.era5_to_daily` or
        :func:`fluxgrid.grids.open_grid` of a stored one).
    variables
        Required drivers, in the model's order.
    mask
        Optional boolean ``(lat, lon)`` mask (e.g. :func:`fluxgrid.grids.land_mask`) on the
        same grid.

    Returns
    -------
    xarray.Dataset
        Drivers, lazy where ``ds`` is; ``attrs["resolution"] = "DD"``.

    Raises
    ------
    GridError
        If a driver is missing, the time step is not daily, or the mask is on another grid.

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> time = pd.date_range("2010-01-01", periods=3, freq="D")
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), np.zeros((3, 2, 2)), {"units": "K"})},
    ...                 coords={"time": time, **g.coords})
    >>> out = prepare_drivers(ds, variables=["ta"])
    >>> round(float(out.ta[0, 0, 0]), 2), out.doy.values.tolist()
    (-273.15, [1, 2, 3])
    """
    ds = standardise_grid(ds)
    _check_daily_axis(ds, variables)
    out = {}
    for name in variables:
        da = ds[name]
        units = variable_units(da, name)
        target = catalog.units_for(name)
        da = convert_lazy(da, units, target, name) if normalise(units) != target else da
        out[name] = da.astype("float32").assign_attrs({**da.attrs, **catalog.cf_attrs(name, "DD")})
    result = xr.Dataset(out, attrs={**ds.attrs, "resolution": "DD"})
    doy = pd.DatetimeIndex(ds["time"].values).day_of_year.to_numpy().astype("int16")
    result = result.assign_coords(doy=("time", doy))
    result["doy"].attrs = {"long_name": "day of year", "units": "1"}
    if mask is not None:
        result = _with_mask(result, mask)
    return with_coord_attrs(result)


def drivers_from_config(cfg) -> xr.Dataset:
    """Daily drivers as a :class:`fluxgrid.config.DriversConfig` describes them (lazy).

    :func:`fluxgrid.grids.read_era5` of ``cfg.sources``, then
    :func:`fluxgrid.grids.regrid` onto ``make_grid(cfg.resolution, cfg.bbox)`` when a
    resolution is given.

    Parameters
    ----------
    cfg
        A :class:`fluxgrid.config.DriversConfig`.

    Returns
    -------
    xarray.Dataset
        Daily drivers, dims ``(time, lat, lon)``.

    Examples
    --------
    >>> from fluxgrid.config import DriversConfig
    >>> cfg = DriversConfig(sources=("era5land_2012_*.nc",), resolution=0.5)
    >>> drivers = drivers_from_config(cfg)  # doctest: +SKIP
    """
    drivers = read_era5(
        list(cfg.sources),
        variables=cfg.variables,
        accumulation=cfg.accumulation,
        day=cfg.day,
        min_coverage=cfg.min_coverage,
    )
    if cfg.resolution is not None:
        drivers = regrid(
            drivers, make_grid(cfg.resolution, bbox=cfg.bbox), method=cfg.regrid_method
        )
    return drivers
