"""Tower positions of a site cube and running a per-site remote-sensing step over all sites."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import xarray as xr

from .._progress import track
from ..errors import RemoteSensingError

__all__ = ["ADD_DOCS", "for_each_site", "site_results", "site_table"]

#: numpydoc entries of the parameters every ``add_<product>`` shares (``add_s2``, ``add_s1``,
#: ``add_lst``), filled into their docstrings by :func:`fluxgrid._docstring.fill_doc`
ADD_DOCS = {
    "cube": """cube
    Daily site cube (dims ``(site, time)``, coords ``latitude``, ``longitude``,
    ``utc_offset``).""",
    "source": """source
    STAC API URL or offline catalog; not needed when the per-site results are given.""",
    "period": """start, end
    Search period (default: the cube's time range, plus one day each side).""",
    "options": """config, stac
    Processing options of the product; where its items come from (default: ``source``).""",
    "join": """interpolate, max_gap_days
    Fill the daily axis by linear interpolation between acquisitions no further apart
    than ``max_gap_days`` (status ``interpolated``); otherwise only acquisition days
    carry values.""",
    "on_error": """on_error
    ``"record"`` (default): a site that fails (no items, outside the tiles, missing
    bands) gets missing values and its reason in the product's ``<product>_reason``
    coordinate; ``"raise"``: stop.""",
}


def site_table(cube: xr.Dataset) -> pd.DataFrame:
    """Tower positions and UTC offsets of a site cube (refusing missing ones).

    Returns
    -------
    pandas.DataFrame
        Index site id; columns ``latitude``, ``longitude`` (degrees), ``utc_offset`` (hours).
    """
    for coord in ("latitude", "longitude", "utc_offset"):
        if coord not in cube.coords and coord not in cube:
            raise RemoteSensingError(
                f"the site cube has no {coord!r} coordinate; remote sensing needs the tower "
                "positions and the UTC offset of each site's local standard time"
            )
    table = pd.DataFrame(
        {
            "latitude": cube["latitude"].values.astype(float),
            "longitude": cube["longitude"].values.astype(float),
            "utc_offset": cube["utc_offset"].values.astype(float),
        },
        index=[str(s) for s in cube.site.values],
    )
    bad = table.index[table.isna().any(axis=1)].tolist()
    if bad:
        raise RemoteSensingError(
            f"sites {bad} lack latitude, longitude or utc_offset; fill them (site metadata) "
            "or drop these sites before adding remote sensing"
        )
    return table


def for_each_site(
    step: Callable[..., Any],
    cube: xr.Dataset,
    source: str | os.PathLike,
    *,
    desc: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    on_error: str = "record",
    **kwargs: Any,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Call ``step(source, site, lat, lon, start=, end=, **kwargs)`` for every site of ``cube``.

    Parameters
    ----------
    step
        A per-site function such as :func:`fluxgrid.rs.sentinel2.s2_site`.
    cube
        Daily site cube; its time axis (plus one day each side) is the default search period.
    source
        STAC API URL or offline catalog.
    desc
        Progress-bar label.
    start, end
        Search period.
    on_error
        ``"record"`` a site's :class:`RemoteSensingError` as its reason, or ``"raise"`` it.

    Returns
    -------
    (dict, dict)
        Site -> result of ``step``; site -> reason for sites without a result.
    """
    sites = site_table(cube)
    t0 = start or pd.Timestamp(cube.time.values[0]) - pd.Timedelta(days=1)
    t1 = end or pd.Timestamp(cube.time.values[-1]) + pd.Timedelta(days=1)
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name, row in track(sites.iterrows(), desc=desc, total=len(sites)):
        try:
            results[name] = step(
                source, name, row.latitude, row.longitude, start=t0, end=t1, **kwargs
            )
        except RemoteSensingError as err:
            if on_error == "raise":
                raise
            failed[name] = str(err)
    return results, failed


def site_results(
    step: Callable[..., Any],
    cube: xr.Dataset,
    source: str | os.PathLike | None,
    results: Mapping[str, Any] | None,
    failed: Mapping[str, str] | None,
    *,
    caller: str,
    what: str,
    desc: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    on_error: str = "record",
    **kwargs: Any,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Per-site results given by the caller, or computed now by :func:`for_each_site`.

    This is the first step of every ``add_<product>``: results computed elsewhere (e.g. on
    a Dask cluster by :mod:`fluxgrid.rs.pipeline`) are used as they are; without them,
    ``step`` runs for every site of ``cube`` and its failures join ``failed``.

    Parameters
    ----------
    step, cube, source, desc, start, end, on_error, **kwargs
        As for :func:`for_each_site`.
    results, failed
        Precomputed site -> result and site -> reason; ``results=None`` computes them.
    caller, what
        The calling function and what its results are called, for the message when
        neither ``source`` nor ``results`` is given.

    Returns
    -------
    (dict, dict)
        Site -> result; site -> reason for sites without one.

    Raises
    ------
    RemoteSensingError
        Neither ``source`` nor ``results`` given.

    Examples
    --------
    >>> annuli, failed = site_results(s1_site, cube, None, annuli, {}, caller="add_s1",
    ...                               what="annuli", desc="Sentinel-1 sites")  # doctest: +SKIP
    """
    failed = dict(failed or {})
    if results is None:
        if source is None:
            raise RemoteSensingError(f"{caller}: give a STAC source or precomputed {what}")
        results, lost = for_each_site(
            step, cube, source, desc=desc, start=start, end=end, on_error=on_error, **kwargs
        )
        failed.update(lost)
    return dict(results), failed
