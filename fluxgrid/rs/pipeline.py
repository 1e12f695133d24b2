"""Per-site remote-sensing jobs for a Dask cluster, resumable from files.

Searching and reducing Sentinel-2, Sentinel-1 and MODIS for one site is independent of the
other sites, so each (product, site) pair is one job: :func:`site_job` computes it on a
worker (with local threads inside) and writes the small per-acquisition table to a NetCDF
file atomically. :func:`run_site_jobs` submits the jobs that have no file yet (an
interrupted run resumes), reports progress, and :func:`load_site_results` reads the tables
back for :func:`fluxgrid.rs.sentinel2.add_s2`, :func:`~fluxgrid.rs.sentinel1.add_s1` and
:func:`~fluxgrid.rs.modis.add_lst`.

Examples
--------
>>> run_site_jobs("s2", cube, "items.json", "out/sites", config=S2Config())  # doctest: +SKIP
>>> footprints, failed = load_site_results("s2", "out/sites", cube.site.values)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from ..errors import RemoteSensingError
from ..io.store import to_netcdf
from .config import LSTConfig, S1Config, S2Config, StacConfig
from .modis import lst_site
from .sentinel1 import s1_site
from .sentinel2 import s2_site

__all__ = ["PRODUCTS", "load_site_results", "run_site_jobs", "site_job"]

logger = logging.getLogger(__name__)

#: products with per-site jobs
PRODUCTS = ("s2", "s1", "lst")
#: product -> per-site step; LST returns one table per platform, the others one table
_STEPS: dict[str, Callable[..., Any]] = {"s2": s2_site, "s1": s1_site, "lst": lst_site}


def _tables(folder: Path, product: str, site: str, platforms: Sequence[str]) -> dict[str, Path]:
    """Key -> file of a site's table(s): ``""`` for one table, the platform for LST."""
    if product == "lst":
        return {p: folder / f"{site}.lst.{p}.nc" for p in platforms}
    return {"": folder / f"{site}.{product}.nc"}


def site_job(
    product: str,
    source: str,
    site: str,
    latitude: float,
    longitude: float,
    *,
    start: str,
    end: str,
    config: Any,
    stac: StacConfig,
    folder: str | os.PathLike,
) -> tuple[str, str]:
    """Compute one product at one site and write its table(s); return ``(site, reason)``.

    ``reason`` is ``""`` on success, else the message of the
    :class:`~fluxgrid.errors.RemoteSensingError` (no items, outside the tiles, ...), so a
    failed site is recorded, not lost.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step = _STEPS.get(product)
    if step is None:  # recorded as the site's reason, like any failure
        return site, f"unknown product {product!r}; expected one of {PRODUCTS}"
    try:
        result = step(
            source, site, latitude, longitude, start=start, end=end, config=config, stac=stac
        )
    except RemoteSensingError as err:
        return site, str(err)
    if isinstance(result, xr.Dataset):
        result = {"": result}
    for key, path in _tables(folder, product, site, list(result)).items():
        to_netcdf(result[key], path, overwrite=True)
    return site, ""


def run_site_jobs(
    product: str,
    cube: xr.Dataset,
    source: str,
    folder: str | os.PathLike,
    *,
    config: S2Config | S1Config | LSTConfig,
    stac: StacConfig,
    start: str | None = None,
    end: str | None = None,
    client: Any = None,
    overwrite: bool = False,
    note: Callable[[str], None] = logger.info,
) -> dict[str, str]:
    """Run :func:`site_job` for every site of ``cube`` (on ``client`` when given).

    Parameters
    ----------
    product
        ``"s2"``, ``"s1"`` or ``"lst"``.
    cube
        Site cube (coords ``latitude``, ``longitude``).
    source
        STAC API URL or offline catalog.
    folder
        Where the per-site tables go; existing ones are reused unless ``overwrite``.
    config, stac
        Product and source options.
    start, end
        Search period (default: the cube's time range, one day wider each side).
    client
        ``distributed.Client``; ``None`` runs the jobs one after another here.
    overwrite
        Recompute sites whose tables exist.
    note
        Progress callback (one line per finished site); default: the ``fluxgrid.rs.pipeline``
        logger (level INFO).

    Returns
    -------
    dict
        Site -> reason for the sites without a result (this run's failures).
    """
    folder = Path(folder)
    t0 = str(start or (pd.Timestamp(cube.time.values[0]) - pd.Timedelta(days=1)).date())
    t1 = str(end or (pd.Timestamp(cube.time.values[-1]) + pd.Timedelta(days=1)).date())
    platforms = getattr(config, "platforms", ())
    todo = []
    for site, lat, lon in zip(
        map(str, cube.site.values), cube["latitude"].values, cube["longitude"].values, strict=True
    ):
        done = any(p.exists() for p in _tables(folder, product, site, platforms).values())
        if done and not overwrite:
            note(f"{product} {site}: table exists, skipped")
            continue
        todo.append((site, float(lat), float(lon)))
    kwargs = dict(start=t0, end=t1, config=config, stac=stac, folder=str(folder))
    failed: dict[str, str] = {}
    for k, (site, reason) in enumerate(_run(client, product, source, todo, kwargs), start=1):
        if reason:
            failed[site] = reason
        note(f"{product} {site}: {'failed: ' + reason if reason else 'done'} ({k}/{len(todo)})")
    return failed


def _run(
    client: Any, product: str, source: str, todo: list[tuple[str, float, float]], kwargs: dict
) -> Iterator[tuple[str, str]]:
    """``(site, reason)`` of each job as it finishes: here in turn, or on ``client``."""
    if client is None:
        return (site_job(product, source, s, la, lo, **kwargs) for s, la, lo in todo)
    from distributed import as_completed

    futures = [
        client.submit(
            site_job, product, source, s, la, lo, **kwargs, key=f"rs-{product}-{s}", pure=False
        )
        for s, la, lo in todo
    ]
    return (f.result() for f in as_completed(futures))


def load_site_results(
    product: str,
    folder: str | os.PathLike,
    sites: Sequence[str],
    *,
    platforms: Sequence[str] = ("terra", "aqua"),
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the per-site tables written by :func:`site_job`.

    Returns
    -------
    (dict, dict)
        Site -> table (for LST: platform -> table); site -> reason for sites without one.
    """
    folder = Path(folder)
    label = "LST" if product == "lst" else product
    results: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for site in map(str, sites):
        found = {}
        for key, path in _tables(folder, product, site, platforms).items():
            if path.exists():
                with xr.open_dataset(path) as ds:
                    found[key] = ds.load()
        if not found:
            missing[site] = f"no {label} table (the site job failed or did not run)"
        else:
            results[site] = found if product == "lst" else found[""]
    return results, missing
