"""Real data for examples and tests: the bundled subset, the shared data folder, FLUXNET files.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> cube = load_demo_cube()
>>> sorted(cube.site.values.tolist())
['DE-Hai', 'DE-Tha', 'FR-Pue', 'US-MMS', 'US-UMB']
>>> cube.nee.attrs["units"]
'gC m-2 d-1'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import catalog
from .config.experiment import ExperimentConfig
from .config.serialise import from_dict
from .data import DEMO_SITES, demo_hh_path, load_demo_cube, load_demo_hh
from .grids.core import make_grid
from .grids.landcover import igbp_codes
from .io.atomic import atomic_path
from .io.fluxnet_csv import week_ends

__all__ = [
    "DEMO_SITES",
    "demo_experiment",
    "demo_fluxnet_frame",
    "demo_hh_path",
    "fluxnet_columns",
    "fluxnet_filename",
    "load_demo_cube",
    "load_demo_hh",
    "shared_data_path",
    "tower_driver_grid",
    "write_fluxnet_csv",
]


#: the sections of :func:`demo_experiment` before its keywords are merged in
_DEMO_EXPERIMENT: dict[str, dict[str, Any]] = {
    "data": {"source": "demo", "sites": ["US-MMS", "DE-Hai"]},
    "split": {"method": "random_years", "validation": "years", "val_fraction": 0.25},
    "windows": {"lookback": 20, "static": ["doy", "latlon", "igbp"]},
    "model": {"name": "lstm", "params": {"hidden": 8}},
    "train": {"epochs": 2, "batch_size": 128, "max_batches_per_epoch": 6, "device": "cpu"},
}


def demo_experiment(**sections: Mapping[str, Any] | Any) -> ExperimentConfig:
    """A small, fast experiment on the bundled demo cube, for tests and examples.

    Two demo towers (US-MMS, DE-Hai), whole years drawn at random as validation and test,
    20-day windows with day of year, location and IGBP inputs, an LSTM of 8 units trained
    on the CPU for 2 epochs of at most 6 batches (a few seconds).

    Parameters
    ----------
    **sections
        Changes per section of :class:`~fluxgrid.config.ExperimentConfig`: a mapping is
        merged into that section (its keys replace the section's), anything else replaces
        the section.

    Examples
    --------
    >>> cfg = demo_experiment(model={"name": "gru"}, train={"epochs": 1})
    >>> cfg.model.name, cfg.model.params, cfg.train.epochs, cfg.data.sites
    ('gru', {'hidden': 8}, 1, ('US-MMS', 'DE-Hai'))
    """
    body: dict[str, Any] = {k: dict(v) for k, v in _DEMO_EXPERIMENT.items()}
    for key, value in sections.items():
        body[key] = {**body.get(key, {}), **value} if isinstance(value, Mapping) else value
    return from_dict(ExperimentConfig, body)


def shared_data_path() -> Path | None:
    """The project's shared real-data folder, or ``None`` where it is not available.

    Looks at ``$FLUXGRID_SHARED_DATA``, then ``../shared/data`` beside the repository.
    """
    env = os.environ.get("FLUXGRID_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for path in candidates:
        if (path / "fluxnet2015").is_dir():
            return path
    return None


# --------------------------------------------------------------------------- FLUXNET CSV fixtures
def fluxnet_filename(
    site: str,
    resolution: str,
    years: tuple[int, int],
    *,
    network: str = "FLUXNET2015",
    product: str = "FULLSET",
    version: str | None = None,
) -> str:
    """The distributed file name of a FLUXNET-family CSV.

    Parameters
    ----------
    site, resolution, years
        Site ID, resolution code (HH, HR, DD, WW, MM, YY) and first/last year.
    network
        ``"FLUXNET2015"`` (``FLX_``), ``"AmeriFlux"`` (``AMF_``) or ``"ICOS"`` (``ICOSETC_``).
    product
        FULLSET, SUBSET, ERAI, ... (not part of ICOS L2 names).
    version
        Version part; defaults ``1-4`` (FLUXNET2015), ``3-5`` (AmeriFlux), ``L2`` (ICOS).

    Examples
    --------
    >>> fluxnet_filename("US-Ha1", "HH", (1991, 2020), network="AmeriFlux")
    'AMF_US-Ha1_FLUXNET_FULLSET_HH_1991-2020_3-5.csv'
    """
    y0, y1 = years
    if network == "FLUXNET2015":
        return f"FLX_{site}_FLUXNET2015_{product}_{resolution}_{y0}-{y1}_{version or '1-4'}.csv"
    if network == "AmeriFlux":
        return f"AMF_{site}_FLUXNET_{product}_{resolution}_{y0}-{y1}_{version or '3-5'}.csv"
    if network == "ICOS":
        return f"ICOSETC_{site}_FLUXNET_{resolution}_{version or 'L2'}.csv"
    raise ValueError(f"unknown network {network!r}; use FLUXNET2015, AmeriFlux or ICOS")


def _timestamp_columns(index, resolution: str) -> dict[str, list[str]]:

    index = pd.DatetimeIndex(index)
    if resolution in ("HH", "HR"):
        step = pd.Timedelta(minutes=30 if resolution == "HH" else 60)
        fmt = "%Y%m%d%H%M"
        return {
            "TIMESTAMP_START": list(index.strftime(fmt)),
            "TIMESTAMP_END": list((index + step).strftime(fmt)),
        }
    if resolution == "WW":
        return {
            "TIMESTAMP_START": list(index.strftime("%Y%m%d")),
            "TIMESTAMP_END": list(week_ends(index).strftime("%Y%m%d")),
        }
    fmt = {"DD": "%Y%m%d", "MM": "%Y%m", "YY": "%Y"}[resolution]
    return {"TIMESTAMP": list(index.strftime(fmt))}


def write_fluxnet_csv(
    folder: str | os.PathLike,
    resolution: str,
    site: str,
    frame,
    *,
    network: str = "FLUXNET2015",
    product: str = "FULLSET",
    version: str | None = None,
    name: str | None = None,
) -> Path:
    """Write ``frame`` as a FLUXNET-family CSV in the ONEFlux layout of ``resolution``.

    Parameters
    ----------
    folder
        Folder to write into (created if needed).
    resolution
        HH, HR (``TIMESTAMP_START``/``TIMESTAMP_END`` YYYYMMDDHHMM), DD (``TIMESTAMP``
        YYYYMMDD), WW (start/end YYYYMMDD of ONEFlux weeks), MM (YYYYMM) or YY (YYYY).
    site
        Site ID, used in the file name.
    frame
        :class:`pandas.DataFrame` indexed by period start (local standard time) with
        FLUXNET column names (``TA_F``, ``NEE_VUT_REF``, ``NEE_VUT_REF_QC``, ...); NaN is
        written as -9999.
    network, product, version
        File-name convention (see :func:`fluxnet_filename`).
    name
        File name to use instead (e.g. a deliberately wrong one for error tests).

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> frame = pd.DataFrame({"TA_F": [1.5, float("nan")]},
    ...                      index=pd.to_datetime(["2010-01-01", "2010-01-02"]))
    >>> path = write_fluxnet_csv(tempfile.mkdtemp(), "DD", "DE-Hai", frame)
    >>> path.name
    'FLX_DE-Hai_FLUXNET2015_FULLSET_DD_2010-2010_1-4.csv'
    >>> path.read_text().splitlines()
    ['TIMESTAMP,TA_F', '20100101,1.5', '20100102,-9999']
    """
    index = pd.DatetimeIndex(frame.index)
    stamps = pd.DataFrame(_timestamp_columns(index, resolution))
    body = pd.DataFrame(frame).reset_index(drop=True)
    table = pd.concat([stamps, body], axis=1)
    years = (int(index.year.min()), int(index.year.max()))
    filename = name or fluxnet_filename(
        site, resolution, years, network=network, product=product, version=version
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False, na_rep="-9999")
    return target


def fluxnet_columns(cube: xr.Dataset, site: str):
    """One site of a local-time, start-labelled cube as a table with FLUXNET column names.

    Each canonical variable becomes its first catalog alias (``ta`` -> ``TA_F``,
    ``nee`` -> ``NEE_VUT_REF``), each ``<var>_qc`` its first QC alias; the index is ``time``.

    Examples
    --------
    >>> frame = fluxnet_columns(load_demo_cube(), "DE-Hai")
    >>> list(frame.columns)[:3]
    ['TA_F', 'TA_F_QC', 'SW_IN_F']
    """
    one = cube.sel(site=site)
    columns = {}
    for name in one.data_vars:
        if one[name].dims != ("time",):
            continue
        if name.endswith("_qc"):
            column = catalog.get(name.removesuffix("_qc")).qc_aliases[0]
        else:
            column = catalog.get(name).aliases[0]
        columns[column] = one[name].values
    return pd.DataFrame(columns, index=pd.DatetimeIndex(one.time.values, name="time"))


def demo_fluxnet_frame(site: str, start: str, days: int):
    """Real records of a bundled demo site in the FLUXNET HH/HR CSV layout.

    The bundled Zarr subset stores UTC stamps that end each record; this gives the same
    values on local-standard-time record starts (``TIMESTAMP_START``), at the site's native
    resolution: HH for DE-Hai, DE-Tha, FR-Pue; HR for US-MMS, US-UMB.

    Parameters
    ----------
    site
        One of :data:`DEMO_SITES`.
    start
        First local date, e.g. ``"2010-06-01"`` (within 2007-2012).
    days
        Number of whole local days.

    Returns
    -------
    frame : pandas.DataFrame
        Index: record start (local standard time); columns ``TA_F``, ``TA_F_QC``, ...,
        ``NEE_VUT_REF``, ``NEE_VUT_REF_QC``, ``GPP_NT_VUT_REF``, ``GPP_DT_VUT_REF``
        (FLUXNET units: degC, W m-2, hPa, umolCO2 m-2 s-1; QC flags 0-3).
    resolution : str
        ``"HH"`` or ``"HR"``.

    Examples
    --------
    >>> frame, res = demo_fluxnet_frame("DE-Hai", "2010-06-01", 1)
    >>> res, len(frame), str(frame.index[0])
    ('HH', 48, '2010-06-01 00:00:00')
    """
    hh = load_demo_hh().sel(site=site)
    minutes = int(hh.record_minutes)
    shift = np.timedelta64(round(float(hh.utc_offset) * 60) - minutes, "m")
    local_start = hh.time.values + shift
    first = np.datetime64(start, "ns")
    keep = (local_start >= first) & (local_start < first + np.timedelta64(days, "D"))
    if minutes == 60:  # hourly records sit on two half-hour stamps; take each hour once
        keep &= pd.DatetimeIndex(local_start).minute == 0
    columns = {}
    for name in hh.data_vars:
        if name.endswith("_qc"):
            column = catalog.get(name.removesuffix("_qc")).qc_aliases[0]
        else:
            column = catalog.get(name).aliases[0]
        columns[column] = hh[name].values[keep]
    index = pd.DatetimeIndex(local_start[keep], name="TIMESTAMP_START")
    return pd.DataFrame(columns, index=index), ("HH" if minutes == 30 else "HR")


def tower_driver_grid(
    cube: xr.Dataset,
    drivers: Sequence[str],
    *,
    shape: tuple[int, int] = (2, 2),
    start: str = "2009-01-01",
    days: int = 30,
) -> tuple[xr.Dataset, xr.DataArray]:
    """A daily driver grid whose cell k carries tower ``k mod n_sites``'s real drivers.

    For tests of upscaling: a tower's prediction through the map must equal its own.

    Parameters
    ----------
    cube
        Site cube, dims ``(site, time)`` (e.g. :func:`load_demo_cube`).
    drivers
        Variables of ``cube`` to put on the grid (their ``units`` kept).
    shape
        ``(n_lat, n_lon)`` cells of a 1-degree grid starting at 45 N, 5 E.
    start, days
        First day and number of days.

    Returns
    -------
    drivers : xarray.Dataset
        ``(time, lat, lon)`` float32 drivers.
    igbp : xarray.DataArray
        ``(lat, lon)`` int16 IGBP codes of the towers behind the cells.

    Examples
    --------
    >>> ds, igbp = tower_driver_grid(load_demo_cube(), ["ta"], shape=(1, 2), days=3)
    >>> ds.ta.dims, ds.ta.shape, igbp.values.tolist()
    (('time', 'lat', 'lon'), (3, 1, 2), [[4, 4]])
    """
    sub = cube.sel(time=slice(pd.Timestamp(start), None)).isel(time=slice(0, days))
    grid = make_grid(1.0, bbox=(5, 45, 5 + shape[1], 45 + shape[0]))
    site_of = np.arange(shape[0] * shape[1]) % sub.sizes["site"]
    data = {
        v: (
            ("time", "lat", "lon"),
            sub[v].transpose("site", "time").values[site_of].T.reshape(-1, *shape),
            {"units": sub[v].attrs["units"]},
        )
        for v in drivers
    }
    coords = {"time": sub.time.values, "lat": grid.lat.values, "lon": grid.lon.values}
    ds = xr.Dataset(data, coords=coords).astype("float32")
    igbp = xr.DataArray(
        igbp_codes(sub.igbp.values)[site_of].reshape(shape),
        dims=("lat", "lon"),
        coords={"lat": coords["lat"], "lon": coords["lon"]},
    )
    return ds, igbp
