"""Maps of gridded fields and time series of regional totals.

Examples
--------
>>> fig = plot_mean_annual_nee(maps.nee)                  # doctest: +SKIP
>>> fig = plot_regional_totals(totals, path="sinks.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from .._docstring import fill_doc
from ..errors import GridError
from .figure import FIGURE_DOCS, figure_axes, finish_axes

__all__ = ["DAYS_PER_YEAR", "plot_map", "plot_mean_annual_nee", "plot_regional_totals"]

#: days per year used to turn a mean daily rate into a mean annual total
DAYS_PER_YEAR = 365.25


@fill_doc(FIGURE_DOCS)
def plot_map(
    da: xr.DataArray,
    *,
    title: str | None = None,
    cmap: str | None = None,
    center: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    label: str | None = None,
    land: xr.DataArray | None = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Any:
    """Quick-look map of a ``(lat, lon)`` field (a time dim is averaged first).

    Parameters
    ----------
    da
        Field with dims ``(lat, lon)`` or ``(time, lat, lon)``.
    title, label
        Axes title and colour-bar label (default: ``long_name`` and ``units``).
    cmap
        Colormap (default ``viridis``, or ``RdBu_r`` when ``center`` is given).
    center
        Centre of a diverging colour scale: limits become ``center +- max|x - center|``
        (98th percentile, so single outliers do not wash the map out).
    vmin, vmax
        Explicit limits (override ``center``'s).
    land
        Boolean land mask ``(lat, lon)`` on the field's grid (e.g.
        :func:`fluxgrid.grids.land_mask`): the land outline is drawn as its contour at 0.5.
    %(ax)s
    %(path)s

    Returns
    -------
    matplotlib.figure.Figure
        One map panel (longitude x latitude, equal aspect) with its colour bar.
    """
    if "time" in da.dims:
        da = da.mean("time", keep_attrs=True)
    if set(da.dims) != {"lat", "lon"}:
        raise GridError(f"plot_map needs a (lat, lon) field, got dims {list(da.dims)}")
    da = da.transpose("lat", "lon")
    values = np.asarray(da.values, dtype="float64")
    if center is not None and (vmin is None or vmax is None):
        finite = np.abs(values[np.isfinite(values)] - center)
        half = float(np.percentile(finite, 98)) if finite.size else 1.0
        half = half if half > 0 else 1.0
        vmin = center - half if vmin is None else vmin
        vmax = center + half if vmax is None else vmax
    fig, ax = figure_axes(ax, (8.0, 4.5))
    mesh = ax.pcolormesh(
        da["lon"].values,
        da["lat"].values,
        np.ma.masked_invalid(values),
        cmap=cmap or ("RdBu_r" if center is not None else "viridis"),
        vmin=vmin,
        vmax=vmax,
        shading="nearest",
    )
    if land is not None:
        _land_outline(ax, land, da)
    units = da.attrs.get("units", "")
    bar = fig.colorbar(mesh, ax=ax, shrink=0.85)
    bar.set_label(label or f"{da.attrs.get('long_name', da.name or '')} ({units})".strip())
    ax.set_aspect("equal", adjustable="box")
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or str(da.attrs.get("long_name", da.name or "")),
        xlabel="longitude (degrees east)",
        ylabel="latitude (degrees north)",
    )


def _land_outline(ax: Any, land: xr.DataArray, like: xr.DataArray) -> None:
    """The coastline: the contour at 0.5 of the land mask (GridError on another grid)."""
    if set(land.dims) != {"lat", "lon"}:
        raise GridError(f"land mask has dims {list(land.dims)}; expected (lat, lon)")
    land = land.transpose("lat", "lon").sortby("lat")
    for c in ("lat", "lon"):
        if land.sizes[c] != like.sizes[c] or not np.allclose(land[c].values, like[c].values):
            raise GridError(f"the land mask is on another grid than the map ({c} differs)")
    values = np.asarray(land.values, dtype="float64")
    if values.min() < 0.5 <= values.max():  # an outline exists
        ax.contour(
            land["lon"].values,
            land["lat"].values,
            values,
            levels=[0.5],
            colors="0.15",
            linewidths=0.8,
        )


@fill_doc(FIGURE_DOCS)
def plot_mean_annual_nee(
    nee: xr.DataArray,
    *,
    land: xr.DataArray | None = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Mean annual NEE map (gC m-2 yr-1), diverging colours centred at 0 (blue = uptake).

    The mean annual total is the mean daily rate over the record (missing days left out)
    times 365.25 days.

    Parameters
    ----------
    nee
        NEE maps, dims ``(time, lat, lon)``, units gC m-2 d-1.
    land
        Boolean land mask ``(lat, lon)``: its outline (contour at 0.5) is drawn.
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        The map of :func:`plot_map` in gC m-2 yr-1, limits symmetric about 0.
    """
    units = nee.attrs.get("units")
    if units not in ("gC m-2 d-1", "g m-2 d-1"):
        raise GridError(
            f"NEE units {units!r}; expected 'gC m-2 d-1' (see fluxgrid.io.maps.open_map)"
        )
    annual = nee.mean("time") * DAYS_PER_YEAR
    annual.attrs = {"long_name": "mean annual NEE (negative = uptake)", "units": "gC m-2 yr-1"}
    years = np.unique(nee["time"].dt.year.values)
    span = f"{years[0]}-{years[-1]}" if years.size > 1 else str(years[0])
    return plot_map(
        annual,
        center=0.0,
        cmap="RdBu_r",
        title=title or f"mean annual NEE {span}",
        land=land,
        ax=ax,
        path=path,
        overwrite=overwrite,
    )


@fill_doc(FIGURE_DOCS)
def plot_regional_totals(
    table: xr.Dataset,
    *,
    variable: str = "sink",
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Time series of regional annual totals (one line per region), TgC yr-1.

    Parameters
    ----------
    table
        Result of :func:`fluxgrid.regions.regional_totals`, dims ``(region, year)``.
    variable
        ``"sink"`` (positive = uptake, default) or ``"total"``.
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One line per region over the years, a grey line at 0.
    """
    if variable not in table.data_vars:
        raise GridError(
            f"the table has no {variable!r}; available: {sorted(table.data_vars)} "
            "(sink exists for NEE totals only)"
        )
    da = table[variable].transpose("region", "year")
    _, ax = figure_axes(ax, (7.0, 4.0))
    years = da["year"].values
    for region in da["region"].values:
        ax.plot(years, da.sel(region=region).values, marker="o", label=str(region))
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    if years.size:
        ax.set_xticks(years)
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or f"regional {variable} ({da.attrs.get('sign_convention', '')})",
        xlabel="year",
        ylabel=f"{da.attrs.get('long_name', variable)} ({da.attrs.get('units', '')})",
        legend={"loc": "best", "fontsize": "small"},
    )
