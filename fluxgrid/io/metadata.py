"""Site metadata: coordinates, elevation, IGBP vegetation class and UTC offset.

Two layouts are read:

* a flat table with one row per site (``site_id, latitude, longitude, elevation_m, igbp, ...``),
  like ``shared/data/fluxnet2015/sites.csv``; the package bundles that FLUXNET2015 site list
  (CC-BY-4.0, Pastorello et al. 2020) and uses it by default;
* a BADM Interchange Format (BIF) table as distributed with FLUXNET2015 / AmeriFlux / ICOS
  (``SITE_ID, GROUP_ID, VARIABLE_GROUP, VARIABLE, DATAVALUE``; CSV or Excel), from which
  ``LOCATION_LAT``, ``LOCATION_LONG``, ``LOCATION_ELEV``, ``IGBP`` and ``UTC_OFFSET`` are taken.

Examples
--------
>>> meta = read_site_metadata()
>>> meta.loc["US-MMS", "igbp"]
'DBF'
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import FileFormatError, MetadataError

__all__ = [
    "METADATA_COLUMNS",
    "bundled_sites_path",
    "read_site_metadata",
    "site_coordinates",
    "site_coords",
]

#: columns of the normalised metadata table (index: site_id)
METADATA_COLUMNS = ["site_name", "latitude", "longitude", "elevation_m", "igbp", "utc_offset"]

_FLAT_ALIASES = {
    "site_id": ["site_id", "site", "SITE_ID", "Site", "siteid"],
    "site_name": ["site_name", "SITE_NAME", "name"],
    "latitude": ["latitude", "lat", "LOCATION_LAT", "LAT"],
    "longitude": ["longitude", "lon", "LOCATION_LONG", "LON", "long"],
    "elevation_m": ["elevation_m", "elevation", "LOCATION_ELEV", "elev"],
    "igbp": ["igbp", "IGBP", "pft", "vegetation_type"],
    "utc_offset": ["utc_offset", "UTC_OFFSET", "timezone_offset"],
}
_BIF_VARIABLES = {
    "SITE_NAME": "site_name",
    "LOCATION_LAT": "latitude",
    "LOCATION_LONG": "longitude",
    "LOCATION_ELEV": "elevation_m",
    "IGBP": "igbp",
    "UTC_OFFSET": "utc_offset",
}


def bundled_sites_path() -> Path:
    """Path of the bundled FLUXNET2015 site list (CC-BY-4.0, Pastorello et al. 2020)."""
    return Path(str(resources.files("fluxgrid.data").joinpath("fluxnet2015_sites.csv")))


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in {".xlsx", ".xls"}:
            return pd.read_excel(path, dtype=str)
        return pd.read_csv(path, dtype=str, encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise FileFormatError(path, f"cannot be read as a metadata table ({err})") from err


def _from_bif(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    cols = {c.upper(): c for c in raw.columns}
    missing = {"SITE_ID", "VARIABLE", "DATAVALUE"} - set(cols)
    if missing:
        raise FileFormatError(path, f"BIF table lacks columns {sorted(missing)}")
    bif = raw.rename(
        columns={
            cols["SITE_ID"]: "site_id",
            cols["VARIABLE"]: "variable",
            cols["DATAVALUE"]: "value",
        }
    )
    bif = bif[bif["variable"].isin(list(_BIF_VARIABLES))]
    # the first value of each (site, variable) is the current one in FLUXNET BIF exports
    wide = bif.drop_duplicates(["site_id", "variable"]).pivot(
        index="site_id", columns="variable", values="value"
    )
    return wide.rename(columns=_BIF_VARIABLES).reset_index()


def _from_flat(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = {}
    for canonical, candidates in _FLAT_ALIASES.items():
        hit = next((c for c in candidates if c in raw.columns), None)
        if hit is not None:
            out[canonical] = raw[hit]
    if "site_id" not in out:
        raise FileFormatError(
            path, "no site identifier column", expected="a 'site_id' (or SITE_ID) column"
        )
    return pd.DataFrame(out)


def read_site_metadata(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read site metadata into a table indexed by ``site_id``.

    Parameters
    ----------
    path
        A flat per-site table or a BIF table (CSV or Excel). ``None`` reads the bundled
        FLUXNET2015 site list.

    Returns
    -------
    pandas.DataFrame
        Index ``site_id``; columns :data:`METADATA_COLUMNS`: ``latitude``/``longitude`` in
        degrees, ``elevation_m`` in m, ``igbp`` IGBP class code (empty string where unknown),
        ``utc_offset`` in hours (NaN where the source has none).

    Raises
    ------
    FileFormatError
        If the file cannot be read or has no site identifier.
    """
    path = Path(path) if path is not None else bundled_sites_path()
    if not path.is_file():
        raise FileFormatError(path, "metadata file not found")
    raw = _read_table(path)
    if raw.empty:
        raise FileFormatError(path, "metadata table is empty")
    is_bif = {"VARIABLE", "DATAVALUE"} <= {c.upper() for c in raw.columns}
    table = _from_bif(raw, path) if is_bif else _from_flat(raw, path)
    table["site_id"] = table["site_id"].astype(str).str.strip()
    table = table.drop_duplicates("site_id").set_index("site_id")
    for col in METADATA_COLUMNS:
        if col not in table:
            table[col] = np.nan if col != "igbp" and col != "site_name" else ""
    for col in ("latitude", "longitude", "elevation_m", "utc_offset"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    for col in ("igbp", "site_name"):
        table[col] = table[col].fillna("").astype(str).str.strip()
    bad = table[(table.latitude.abs() > 90) | (table.longitude.abs() > 180)]
    if len(bad):
        raise MetadataError(
            f"{path}: site {bad.index[0]!r} has coordinates out of range "
            f"(lat {bad.latitude.iloc[0]}, lon {bad.longitude.iloc[0]}); "
            "expected latitude in [-90, 90] and longitude in [-180, 180]"
        )
    return table[METADATA_COLUMNS]


def site_coords(
    sites: list[str] | np.ndarray,
    metadata: pd.DataFrame | str | os.PathLike | None = None,
    *,
    fallback: pd.DataFrame | None = None,
    require_coordinates: bool = True,
    source: str = "",
) -> pd.DataFrame:
    """Metadata rows for ``sites``, in order, with coordinates checked.

    Parameters
    ----------
    sites
        Site identifiers.
    metadata
        A table from :func:`read_site_metadata`, a path to one, or ``None`` for the bundle.
    fallback
        Values used where ``metadata`` has none (e.g. coordinates stored in the data file).
    require_coordinates
        Raise if a site ends up without latitude/longitude.
    source
        Name of the data source, for error messages.

    Raises
    ------
    MetadataError
        If a site has no coordinates; the message names the site and the metadata file.
    """
    table = metadata if isinstance(metadata, pd.DataFrame) else read_site_metadata(metadata)
    rows = table.reindex(list(sites))
    if fallback is not None:
        rows = rows.combine_first(fallback.reindex(rows.index))[METADATA_COLUMNS]
    rows["igbp"] = rows["igbp"].fillna("").astype(str)
    rows["site_name"] = rows["site_name"].fillna("").astype(str)
    if require_coordinates:
        lacking = rows.index[rows.latitude.isna() | rows.longitude.isna()]
        if len(lacking):
            where = f" in {source}" if source else ""
            raise MetadataError(
                f"site {lacking[0]!r}{where} has no coordinates; add latitude/longitude for it "
                "to a metadata table (site_id, latitude, longitude, igbp) and pass it as "
                "metadata=..."
            )
    return rows


def site_coordinates(
    site_ids: list[str],
    meta: pd.DataFrame,
    *,
    utc_offset: np.ndarray | None = None,
    record_minutes: np.ndarray | None = None,
) -> dict[str, xr.DataArray]:
    """The per-site coordinates of a site cube, with their attributes.

    Parameters
    ----------
    site_ids
        Site identifiers, in cube order.
    meta
        Rows of :func:`site_coords` for ``site_ids`` (same order).
    utc_offset
        Hours per site; default: the ``utc_offset`` column of ``meta``.
    record_minutes
        Native record length per site (sub-daily cubes only).

    Returns
    -------
    dict
        ``site``, ``latitude``, ``longitude``, ``elevation``, ``igbp``, ``utc_offset``
        (and ``record_minutes``) as DataArrays on dim ``site``, ready for ``assign_coords``.
    """
    offset = meta.utc_offset.to_numpy() if utc_offset is None else np.asarray(utc_offset)
    coords = {
        "site": xr.DataArray(np.array(site_ids, dtype=object), dims="site"),
        "latitude": xr.DataArray(
            meta.latitude.to_numpy(),
            dims="site",
            attrs={"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude"},
        ),
        "longitude": xr.DataArray(
            meta.longitude.to_numpy(),
            dims="site",
            attrs={"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude"},
        ),
        "elevation": xr.DataArray(
            meta.elevation_m.to_numpy(),
            dims="site",
            attrs={"units": "m", "long_name": "site elevation"},
        ),
        "igbp": xr.DataArray(
            meta.igbp.to_numpy(dtype=object),
            dims="site",
            attrs={"long_name": "IGBP vegetation class ('' where unknown)"},
        ),
        "utc_offset": xr.DataArray(
            offset, dims="site", attrs={"units": "h", "long_name": "local standard time minus UTC"}
        ),
    }
    if record_minutes is not None:
        coords["record_minutes"] = xr.DataArray(
            np.asarray(record_minutes, dtype="int64"),
            dims="site",
            attrs={"units": "min", "long_name": "native record length (30 HH, 60 HR)"},
        )
    return coords
