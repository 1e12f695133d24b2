"""Daily mean clear-sky shortwave radiation at towers, vectorised over sites and days.

For every site and local standard-time day, the sun position is computed at the middle of
each ``step_minutes`` interval of the local day (NREL SPA as implemented in pvlib) and a
clear-sky model gives the global horizontal irradiance; the daily mean of those is
``sw_clearsky`` (W m-2), and the daily mean top-of-atmosphere irradiance on a horizontal
surface is ``sw_in_pot``.

Vectorisation: the geocentric part of SPA (heliocentric longitude, nutation, sidereal
time, right ascension, declination, Earth-Sun distance) depends on the UTC instant only, so
it is computed once on a common grid of instants that contains every site's sub-daily
samples (sites differ only by their UTC offset); the topocentric part (hour angle,
parallax, elevation, refraction) is evaluated for all (site, day, step) samples of a block
of days at once, as are airmass, Linke turbidity (pvlib's monthly climatology, read for all
sites in one selection and interpolated to the day of year as pvlib does) and the
Ineichen-Perez (or Haurwitz) model. There is no Python loop over sites; blocks of days
bound the memory and run in parallel as Dask tasks.

Examples
--------
>>> import pandas as pd
>>> days = pd.date_range("2020-06-20", periods=2)
>>> rad = clearsky_daily([51.08, 80.0], [10.45, 15.0], [430.0, 10.0], [1.0, 1.0], days)
>>> bool((rad.sw_clearsky.sel(site=0) > 250).all()), bool((rad.sw_clearsky <= rad.sw_in_pot).all())
(True, True)
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._lazy import lazy_import
from ..errors import RemoteSensingError
from .config import ClearSkyConfig
from .names import rs_attrs

__all__ = ["add_clearsky", "clearsky_daily", "linke_turbidity_monthly"]

_ELEMENTS_PER_BLOCK = 500_000


def linke_turbidity_monthly(latitude: Sequence[float], longitude: Sequence[float]) -> np.ndarray:
    """Monthly Linke turbidity at many points from pvlib's climatology, in one read.

    Parameters
    ----------
    latitude, longitude
        Degrees, one per site.

    Returns
    -------
    numpy.ndarray
        Shape ``(site, 12)``, Linke turbidity (dimensionless), January..December.
    """
    pvlib = lazy_import("pvlib")
    h5py = lazy_import("h5py")
    lat = np.asarray(latitude, dtype="float64")
    lon = np.asarray(longitude, dtype="float64")
    if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 180):
        raise RemoteSensingError("latitude must be within [-90, 90] and longitude [-180, 180]")
    # the 5' grid of LinkeTurbidities.h5: rows from 90 N southwards, columns from 180 W
    rows = np.clip(np.rint((lat - (90.0 - 1 / 24.0)) * (2160 / -180.0)), 0, 2159).astype(int)
    cols = np.clip(np.rint((lon - (-180.0 + 1 / 24.0)) * (4320 / 360.0)), 0, 4319).astype(int)
    path = Path(pvlib.__file__).parent / "data" / "LinkeTurbidities.h5"
    # one point selection for all sites x months (a single HDF5 read, no loop over sites)
    points = np.stack(
        [np.repeat(rows, 12), np.repeat(cols, 12), np.tile(np.arange(12), len(rows))], axis=1
    ).astype("uint64")
    with h5py.File(path, "r") as h5:
        dset = h5["LinkeTurbidity"]
        space = dset.id.get_space()
        space.select_elements(points)
        values = np.empty(len(points), dtype=dset.dtype)
        dset.id.read(h5py.h5s.create_simple((len(points),)), space, values)
    return values.reshape(len(rows), 12).astype("float64") / 20.0


def _month_middles(leap: bool) -> np.ndarray:
    mdays = np.array([31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], float)
    ydays = mdays.sum()
    return np.concatenate([[-15.5], np.cumsum(mdays) - mdays / 2.0, [ydays + 15.5]])


def _turbidity_at(lt_monthly: np.ndarray, utc_seconds: np.ndarray) -> np.ndarray:
    """Linke turbidity (site, n) interpolated to the UTC day of year of each sample."""
    t = utc_seconds.astype("datetime64[s]")
    year_start = t.astype("datetime64[Y]")
    doy = (t.astype("datetime64[D]") - year_start.astype("datetime64[D]")).astype(int) + 1
    years = year_start.astype(int) + 1970
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    ext = np.concatenate([lt_monthly[:, -1:], lt_monthly, lt_monthly[:, :1]], axis=1)
    out = np.empty(utc_seconds.shape, dtype="float64")
    for is_leap in (False, True):
        mids = _month_middles(is_leap)
        sel = leap == is_leap
        if not sel.any():
            continue
        pos = np.clip(np.searchsorted(mids, doy, side="right") - 1, 0, len(mids) - 2)
        frac = (doy - mids[pos]) / (mids[pos + 1] - mids[pos])
        site_idx = np.arange(ext.shape[0]).reshape((-1,) + (1,) * (utc_seconds.ndim - 1))
        value = ext[site_idx, pos] + frac * (ext[site_idx, pos + 1] - ext[site_idx, pos])
        out = np.where(sel, value, out)
    return out


def _geocentric(unixtime: np.ndarray) -> dict[str, np.ndarray]:
    """Sun quantities that depend on the UTC instant only (pvlib's NREL SPA)."""
    lazy_import("pvlib")
    spa = importlib.import_module("pvlib.spa")
    if getattr(spa, "USE_NUMBA", False):
        raise RemoteSensingError(
            "pvlib's SPA is compiled with numba in this process (PVLIB_USE_NUMBA); the "
            "vectorised clear-sky computation needs the numpy SPA: unset PVLIB_USE_NUMBA"
        )
    t = unixtime.astype("datetime64[s]")
    year = t.astype("datetime64[Y]").astype(int) + 1970
    month = t.astype("datetime64[M]").astype(int) % 12 + 1
    delta_t = spa.calculate_deltat(year, month)
    ut = unixtime.astype("float64")
    (radius,) = spa.solar_position_numpy(
        ut, 0.0, 0.0, 0.0, 101325.0, 12.0, delta_t, 0.5667, 1, esd=True
    )
    v, alpha, delta = spa.solar_position_numpy(
        ut, 0.0, 0.0, 0.0, 101325.0, 12.0, delta_t, 0.5667, 1, sst=True
    )
    return {"v": v, "alpha": alpha, "delta": delta, "radius": radius}


def _topocentric_zenith(
    geo: dict[str, np.ndarray],
    lat: np.ndarray,
    lon: np.ndarray,
    elev: np.ndarray,
    pressure: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(apparent zenith, true zenith) in degrees for gathered geocentric arrays."""
    lazy_import("pvlib")
    spa = importlib.import_module("pvlib.spa")
    hour_angle = spa.local_hour_angle(geo["v"], lon, geo["alpha"])
    xi = spa.equatorial_horizontal_parallax(geo["radius"])
    u = spa.uterm(lat)
    x = spa.xterm(u, lat, elev)
    y = spa.yterm(u, lat, elev)
    delta_alpha = spa.parallax_sun_right_ascension(x, xi, hour_angle, geo["delta"])
    delta_prime = spa.topocentric_sun_declination(geo["delta"], x, y, xi, delta_alpha, hour_angle)
    h_prime = spa.topocentric_local_hour_angle(hour_angle, delta_alpha)
    e0 = spa.topocentric_elevation_angle_without_atmosphere(lat, delta_prime, h_prime)
    delta_e = spa.atmospheric_refraction_correction(pressure / 100.0, 12.0, e0, 0.5667)
    e = spa.topocentric_elevation_angle(e0, delta_e)
    return spa.topocentric_zenith_angle(e), spa.topocentric_zenith_angle(e0)


def _clearsky_block(
    day_seconds: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    elev: np.ndarray,
    offset_s: np.ndarray,
    lt_monthly: np.ndarray | None,
    *,
    model: str,
    step_s: int,
) -> np.ndarray:
    """(2, site, day): daily mean clear-sky GHI and TOA irradiance for a block of days."""
    pvlib = lazy_import("pvlib")
    n_steps = 86400 // step_s
    steps = step_s // 2 + step_s * np.arange(n_steps)
    # UTC second of every sample, (site, day, step)
    local = day_seconds[:, None] + steps[None, :]
    utc = local[None, :, :] - offset_s[:, None, None]
    base = int(utc.min())
    rel = utc - base
    unit = gcd(
        step_s,
        86400,
        *{int(o) for o in (offset_s - offset_s.min())},
        *{int(d) for d in (day_seconds - day_seconds[0])},
    )
    n_grid = int(rel.max()) // unit + 1
    if n_grid <= 4 * (rel.shape[1] * rel.shape[2] + 1):
        grid = base + unit * np.arange(n_grid, dtype="int64")
        index = rel // unit
    else:  # sparse days or odd offsets: compute at the distinct instants
        grid, index = np.unique(utc, return_inverse=True)
        index = index.reshape(utc.shape)
    geo = {k: v[index] for k, v in _geocentric(grid).items()}
    pressure = pvlib.atmosphere.alt2pres(elev)
    shape = (-1, 1, 1)
    zen_app, zen_true = _topocentric_zenith(
        geo, lat.reshape(shape), lon.reshape(shape), elev.reshape(shape), pressure.reshape(shape)
    )
    grid_t = grid.astype("datetime64[s]")
    grid_doy = (
        grid_t.astype("datetime64[D]") - grid_t.astype("datetime64[Y]").astype("datetime64[D]")
    ).astype(int) + 1
    dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(grid_doy), dtype="float64")[index]
    toa = dni_extra * np.maximum(np.cos(np.radians(zen_true)), 0.0)
    if model == "ineichen":
        am_rel = pvlib.atmosphere.get_relative_airmass(zen_app, model="kastenyoung1989")
        am_abs = pvlib.atmosphere.get_absolute_airmass(am_rel, pressure.reshape(shape))
        tl = _turbidity_at(lt_monthly, utc)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            ghi = pvlib.clearsky.ineichen(
                zen_app, am_abs, tl, altitude=elev.reshape(shape), dni_extra=dni_extra
            )["ghi"]
    elif model == "haurwitz":
        ghi = pvlib.clearsky.haurwitz(pd.Series(zen_app.ravel()))["ghi"].to_numpy()
        ghi = ghi.reshape(zen_app.shape)
    else:
        raise RemoteSensingError(f"clear-sky model {model!r}; expected 'ineichen' or 'haurwitz'")
    ghi = np.nan_to_num(np.asarray(ghi, dtype="float64"), nan=0.0)
    return np.stack([ghi.mean(axis=2), toa.mean(axis=2)]).astype("float32")


def clearsky_daily(
    latitude: Sequence[float],
    longitude: Sequence[float],
    elevation: Sequence[float],
    utc_offset: Sequence[float],
    time: Sequence | pd.DatetimeIndex | xr.DataArray,
    *,
    model: str = "ineichen",
    step_minutes: int = 30,
    chunk_days: int | None = None,
    site: Sequence[str] | None = None,
    lazy: bool = False,
) -> xr.Dataset:
    """Daily mean clear-sky and top-of-atmosphere shortwave radiation for many sites.

    Parameters
    ----------
    latitude, longitude, elevation, utc_offset
        One value per site: degrees, degrees, metres a.s.l. (NaN = 0), hours of local
        standard time ahead of UTC.
    time
        Local standard-time dates (one value per day; the time of day is ignored).
    model
        ``"ineichen"`` (Ineichen-Perez with pvlib's Linke-turbidity climatology and
        pressure from elevation) or ``"haurwitz"``.
    step_minutes
        Integration step within the local day; samples at the middle of each step.
    chunk_days
        Days per block (default: about half a million samples per block).
    site
        Site labels (default 0..n-1).
    lazy
        Return Dask-backed variables (one task per block of days) instead of computing.

    Returns
    -------
    xarray.Dataset
        ``sw_clearsky`` and ``sw_in_pot`` (W m-2, float32), dims ``(site, time)``.
    """
    dask_array = lazy_import("dask.array")
    lat, lon, elev, offset = _site_arrays(latitude, longitude, elevation, utc_offset)
    if step_minutes < 1 or 1440 % step_minutes:
        raise RemoteSensingError(f"step_minutes={step_minutes} must divide 1440")
    days = pd.DatetimeIndex(np.asarray(time)).normalize()
    day_seconds = days.values.astype("datetime64[s]").astype("int64")
    step_s = int(step_minutes) * 60
    n_steps = 86400 // step_s
    if chunk_days is None:
        chunk_days = max(1, _ELEMENTS_PER_BLOCK // max(len(lat) * n_steps, 1))
    lt = linke_turbidity_monthly(lat, lon) if model == "ineichen" else None
    offset_s = np.rint(offset * 3600).astype("int64")
    days_da = dask_array.from_array(day_seconds, chunks=int(chunk_days))
    blocks = dask_array.map_blocks(
        _clearsky_block,
        days_da,
        lat,
        lon,
        elev,
        offset_s,
        lt,
        model=model,
        step_s=step_s,
        new_axis=[0, 1],
        chunks=((2,), (len(lat),), days_da.chunks[0]),
        dtype="float32",
        meta=np.array((), dtype="float32"),
    )
    labels = np.asarray(site) if site is not None else np.arange(len(lat))
    out = _radiation_dataset(blocks, labels, days, model, n_steps)
    return out if lazy else out.compute()


def _site_arrays(
    latitude: Sequence[float],
    longitude: Sequence[float],
    elevation: Sequence[float],
    utc_offset: Sequence[float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-site inputs as flat float arrays (elevation NaN = 0); refuses NaN positions."""
    lat = np.asarray(latitude, dtype="float64").ravel()
    lon = np.asarray(longitude, dtype="float64").ravel()
    elev = np.nan_to_num(np.asarray(elevation, dtype="float64").ravel(), nan=0.0)
    offset = np.asarray(utc_offset, dtype="float64").ravel()
    if not len(lat) == len(lon) == len(elev) == len(offset):
        raise RemoteSensingError(
            "latitude, longitude, elevation and utc_offset need one value per site, got "
            f"{len(lat)}, {len(lon)}, {len(elev)}, {len(offset)}"
        )
    if np.isnan(offset).any() or np.isnan(lat).any() or np.isnan(lon).any():
        raise RemoteSensingError(
            "clear-sky radiation needs latitude, longitude and utc_offset of every site; "
            f"sites with NaN: {np.flatnonzero(np.isnan(offset + lat + lon)).tolist()}"
        )
    return lat, lon, elev, offset


def _radiation_dataset(
    blocks, labels: np.ndarray, days: pd.DatetimeIndex, model: str, n_steps: int
) -> xr.Dataset:
    """``sw_clearsky`` and ``sw_in_pot`` (site, time) from the ``(2, site, day)`` blocks."""
    coords = {"site": labels, "time": days.values.astype("datetime64[ns]")}
    out = xr.Dataset(
        {
            "sw_clearsky": (("site", "time"), blocks[0]),
            "sw_in_pot": (("site", "time"), blocks[1]),
        },
        coords=coords,
    )
    out["sw_clearsky"].attrs = {
        **rs_attrs("sw_clearsky"),
        "clear_sky_model": model,
        "solar_position": "NREL SPA (pvlib), topocentric, refraction at standard temperature",
        "integration": f"mean of {n_steps} samples per local standard-time day",
    }
    out["sw_in_pot"].attrs = rs_attrs("sw_in_pot")
    return out


def add_clearsky(
    cube: xr.Dataset, *, config: ClearSkyConfig | None = None, lazy: bool | None = None
) -> xr.Dataset:
    """Add ``sw_clearsky`` (and ``sw_in_pot``) to a daily site cube.

    Parameters
    ----------
    cube
        Daily site cube with coords ``latitude``, ``longitude``, ``utc_offset`` and
        (optionally) ``elevation``; its ``time`` axis is local standard-time days.
    config
        Model and integration step (:class:`fluxgrid.rs.config.ClearSkyConfig`).
    lazy
        Keep the new variables Dask-backed (one task per block of days). Default: lazy when
        the cube is (any Dask-backed data variable), computed for an in-memory cube. Only
        the per-site coordinates are ever computed up front (in one pass, where lazy).

    Returns
    -------
    xarray.Dataset
        The cube with ``sw_clearsky`` and ``sw_in_pot`` (W m-2). An existing ``sw_in_pot``
        (e.g. from FLUXNET files) is kept.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = add_clearsky(load_demo_cube().isel(time=slice(0, 3)))
    >>> cube.sw_clearsky.attrs["units"]
    'W m-2'
    """
    cfg = config or ClearSkyConfig()
    for coord in ("latitude", "longitude", "utc_offset"):
        if coord not in cube.coords:
            raise RemoteSensingError(
                f"the cube has no {coord!r} coordinate; clear-sky radiation needs the tower "
                "position and the UTC offset of its local standard time"
            )
    if cube.attrs.get("resolution") not in (None, "DD"):
        raise RemoteSensingError(
            f"add_clearsky works on daily cubes (resolution 'DD'), got "
            f"{cube.attrs.get('resolution')!r}; aggregate with to_daily first"
        )
    if lazy is None:
        lazy = any(v.chunks is not None for v in cube.data_vars.values())
    names = [c for c in ("latitude", "longitude", "elevation", "utc_offset") if c in cube.coords]
    computed = lazy_import("dask").compute(*[cube[c].data for c in names])
    site_coords = dict(zip(names, computed, strict=True))
    elevation = site_coords.get("elevation", np.zeros(cube.sizes["site"]))
    rad = clearsky_daily(
        site_coords["latitude"],
        site_coords["longitude"],
        elevation,
        site_coords["utc_offset"],
        cube.time.values,
        model=cfg.model,
        step_minutes=cfg.step_minutes,
        chunk_days=cfg.chunk_days,
        site=cube.site.values,
        lazy=lazy,
    )
    out = cube.copy()
    out["sw_clearsky"] = rad["sw_clearsky"]
    if "sw_in_pot" not in out:
        out["sw_in_pot"] = rad["sw_in_pot"]
    return out
