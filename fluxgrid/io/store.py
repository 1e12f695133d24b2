"""Site cubes on disk: chunked, consolidated Zarr and NetCDF, written atomically.

The chunk plan serves time-series access (the models read whole records of a few sites):
each chunk holds the full time axis for a block of sites. Every write goes to a temporary
sibling path first and is moved into place only when complete, so an interrupted or failed
write leaves the previous store intact.

New stores are Zarr format 3 (``zarr_format=2`` on request, for readers that only know
format 2); :func:`open_cube` reads both. ``encoding=`` sets compressors, chunks and dtypes
per variable, checked before anything is written.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> cube = load_demo_cube()                          # doctest: +SKIP
>>> write_cube(cube, "cube.zarr", overwrite=True)    # doctest: +SKIP
>>> again = open_cube("cube.zarr")                   # lazy, Dask-backed  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import ConfigError, DataNotFoundError, FileFormatError, FluxgridError
from .atomic import atomic_path, check_writable, recover_interrupted_swap

__all__ = [
    "COMPRESSORS",
    "ENCODING_KEYS",
    "check_encoding",
    "chunk_plan",
    "open_cube",
    "store_format",
    "to_netcdf",
    "write_cube",
]

#: target bytes per chunk of one variable (Dask and Zarr both like 10-100 MB)
_CHUNK_BYTES = 32 * 2**20


def chunk_plan(ds: xr.Dataset, *, target_bytes: int = _CHUNK_BYTES) -> dict[str, int]:
    """Chunk sizes for time-series access: all of ``time``, as many sites as fit the target.

    Parameters
    ----------
    ds
        Site cube with dims ``(site, time)``.
    target_bytes
        Approximate bytes per chunk of one float variable.

    Returns
    -------
    dict
        ``{"site": n, "time": ds.sizes["time"]}``.
    """
    n_time = max(int(ds.sizes.get("time", 1)), 1)
    itemsize = max((ds[v].dtype.itemsize for v in ds.data_vars), default=4)
    per_site = n_time * itemsize
    n_site = int(np.clip(target_bytes // per_site, 1, max(int(ds.sizes.get("site", 1)), 1)))
    return {"site": n_site, "time": n_time}


def _with_fixed_strings(ds: xr.Dataset) -> xr.Dataset:
    """Object-dtype coordinates as fixed-width strings, computed (their length must be known)."""
    out = ds.copy()
    for name in out.coords:
        if out[name].dtype == object or (out[name].dtype.kind == "U" and out[name].chunks):
            out[name] = out[name].load().astype(str)
    return out


def _store_strings(ds: xr.Dataset, zarr_format: int) -> xr.Dataset:
    """String coordinates in memory, as each format stores them best.

    Format 2: fixed-width unicode (part of its spec). Format 3: variable-length strings
    (the ``string`` data type of the Zarr v3 extensions; fixed-width unicode has no v3
    specification yet).
    """
    out = ds.copy()
    for name in out.coords:
        if out[name].dtype.kind in "OUT":
            values = np.asarray(out[name].values)
            out[name] = (out[name].dims, values.astype(str if zarr_format == 2 else object))
            out[name].attrs = ds[name].attrs
    return out


def _prepared(ds: xr.Dataset, zarr_format: int = 3) -> xr.Dataset:
    """Cube with the chunk plan applied and stale encodings dropped."""
    if "site" not in ds.dims:
        raise FileFormatError(
            None, f"cube has dims {dict(ds.sizes)}", expected="a 'site' dimension"
        )
    plan = {k: v for k, v in chunk_plan(ds).items() if k in ds.dims}
    out = ds.copy()
    for name in out.variables:
        out[name].encoding = {}
    # coordinates in memory stay in memory: chunking them would make the string ones be
    # computed a second time, apart from the write
    in_memory = {c: out[c].variable for c in out.coords if out[c].chunks is None}
    chunked = out.chunk(plan)
    chunked = chunked.assign_coords({c: (v.dims, v.data, v.attrs) for c, v in in_memory.items()})
    return _store_strings(chunked, zarr_format)


def _write_zarr(ds: xr.Dataset, path: Path, **kwargs: Any) -> None:
    # consolidated metadata (one read opens the store) is part of the format 2 spec and an
    # extension in format 3 that zarr-python and xarray read; its warning is expected
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        ds.to_zarr(path, consolidated=True, **kwargs)


def store_format(path: str | os.PathLike) -> int:
    """The Zarr format (2 or 3) of an existing store.

    Raises
    ------
    FileFormatError
        If ``path`` holds neither ``zarr.json`` (format 3) nor ``.zgroup`` (format 2).
    """
    path = Path(path)
    if (path / "zarr.json").exists():
        return 3
    if (path / ".zgroup").exists():
        return 2
    raise FileFormatError(path, "is not a Zarr store", expected="zarr.json or .zgroup in it")


def _check_format(zarr_format: Any) -> int:
    if zarr_format not in (2, 3) or isinstance(zarr_format, bool):
        raise ConfigError(f"zarr_format={zarr_format!r}; expected 3 (the default) or 2")
    return int(zarr_format)


#: per-variable keys of ``write_cube(encoding=...)``
ENCODING_KEYS = (
    "compressors",
    "level",
    "filters",
    "chunks",
    "shards",
    "dtype",
    "scale_factor",
    "add_offset",
    "_FillValue",
)

#: compressor names ``encoding`` accepts (besides codec objects and ``None``)
COMPRESSORS = ("zstd", "blosc", "gzip", "none")


def _codec(name: str, level: int | None, zarr_format: int) -> Any:
    """The codec a compressor name stands for in each format."""
    if zarr_format == 3:
        from zarr import codecs

        make = {
            "zstd": lambda lv: codecs.ZstdCodec(level=3 if lv is None else lv),
            "blosc": lambda lv: codecs.BloscCodec(cname="zstd", clevel=5 if lv is None else lv),
            "gzip": lambda lv: codecs.GzipCodec(level=5 if lv is None else lv),
        }
    else:
        import numcodecs

        make = {
            "zstd": lambda lv: numcodecs.Zstd(level=3 if lv is None else lv),
            "blosc": lambda lv: numcodecs.Blosc(cname="zstd", clevel=5 if lv is None else lv),
            "gzip": lambda lv: numcodecs.GZip(level=5 if lv is None else lv),
        }
    return make[name](level)


def _compressors(name: str, spec: Mapping[str, Any], zarr_format: int) -> Any:
    given, level = spec.get("compressors"), spec.get("level")
    if level is not None and (not isinstance(level, int) or isinstance(level, bool)):
        raise ConfigError(f"encoding[{name!r}]['level']={level!r}; expected an integer")
    if isinstance(given, str):
        if given not in COMPRESSORS:
            raise ConfigError(
                f"encoding[{name!r}]['compressors']={given!r}; expected one of "
                f"{list(COMPRESSORS)}, codec objects or None"
            )
        return None if given == "none" else (_codec(given, level, zarr_format),)
    if level is not None:
        raise ConfigError(
            f"encoding[{name!r}] sets 'level' with compressors={given!r}; 'level' goes with "
            f"a compressor name ({', '.join(COMPRESSORS[:-1])}); set the level of a codec "
            "object on the object"
        )
    if given is None:
        return None
    codecs = tuple(given) if isinstance(given, list | tuple) else (given,)
    if any(isinstance(c, str | bytes | int | float | Mapping) for c in codecs):
        raise ConfigError(
            f"encoding[{name!r}]['compressors']={given!r}; expected a name "
            f"({', '.join(COMPRESSORS)}), codec objects (zarr.codecs for format 3, numcodecs "
            "for format 2) or None"
        )
    return codecs


def _block_shape(name: str, key: str, given: Any, var: xr.Variable) -> tuple[int, ...]:
    """``chunks`` / ``shards`` as one positive size per dimension of the variable."""
    if isinstance(given, Mapping):
        unknown = sorted(set(given) - set(var.dims))
        if unknown:
            raise ConfigError(
                f"encoding[{name!r}][{key!r}] names dims {unknown}; {name!r} has dims "
                f"{list(var.dims)}"
            )
        given = tuple(given.get(d, var.sizes[d]) for d in var.dims)
    if not isinstance(given, list | tuple) or len(given) != var.ndim:
        raise ConfigError(
            f"encoding[{name!r}][{key!r}]={given!r}; expected {var.ndim} sizes (dims "
            f"{list(var.dims)}) or a {{dim: size}} mapping"
        )
    sizes = tuple(given)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ConfigError(f"encoding[{name!r}][{key!r}]={given!r}; sizes must be integers >= 1")
    return tuple(min(n, max(var.sizes[d], 1)) for n, d in zip(sizes, var.dims, strict=True))


def _dtype(name: str, spec: Mapping[str, Any], var: xr.Variable) -> np.dtype:
    try:
        dtype = np.dtype(spec["dtype"])
    except TypeError as err:
        raise ConfigError(
            f"encoding[{name!r}]['dtype']={spec['dtype']!r} is not a NumPy dtype ({err})"
        ) from err
    if var.dtype.kind == "f" and dtype.kind in "iu" and "scale_factor" not in spec:
        raise ConfigError(
            f"encoding[{name!r}]['dtype']={dtype} would truncate the float values of "
            f"{name!r}; give 'scale_factor' (and '_FillValue' for missing values) as well"
        )
    if var.dtype.kind in "fiub" and dtype.kind not in "fiub":
        raise ConfigError(f"encoding[{name!r}]['dtype']={dtype}; {name!r} is numeric")
    return dtype


def _variable_encoding(name: str, spec: Any, var: xr.Variable, zarr_format: int) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"encoding[{name!r}]={spec!r}; expected a mapping of encoding keys")
    unknown = sorted(set(spec) - set(ENCODING_KEYS))
    if unknown:
        raise ConfigError(
            f"encoding[{name!r}] has unknown keys {unknown}; known: {list(ENCODING_KEYS)}"
        )
    out = {k: v for k, v in spec.items() if k in ("filters", "scale_factor", "add_offset")}
    if "_FillValue" in spec:
        out["_FillValue"] = spec["_FillValue"]
    if "compressors" in spec or "level" in spec:
        out["compressors"] = _compressors(name, spec, zarr_format)
    if "dtype" in spec:
        out["dtype"] = _dtype(name, spec, var)
    if "chunks" in spec:
        out["chunks"] = _block_shape(name, "chunks", spec["chunks"], var)
    if "shards" in spec:
        if zarr_format == 2:
            raise ConfigError(f"encoding[{name!r}] sets 'shards': sharding needs zarr_format=3")
        shards = _block_shape(name, "shards", spec["shards"], var)
        chunks = out.setdefault("chunks", shards)
        if any(s % c for s, c in zip(shards, chunks, strict=True)):
            raise ConfigError(
                f"encoding[{name!r}]: shards {shards} must be multiples of chunks {chunks}"
            )
        out["shards"] = shards
    return out


def check_encoding(
    ds: xr.Dataset, encoding: Mapping[str, Any] | None, zarr_format: int = 3
) -> dict[str, dict[str, Any]]:
    """Validate ``write_cube(encoding=...)`` and resolve compressor names into codecs.

    Parameters
    ----------
    ds
        The cube to be written.
    encoding
        ``{variable: {key: value}}`` with keys of :data:`ENCODING_KEYS`: ``compressors``
        (a name of :data:`COMPRESSORS`, codec objects or ``None``) with an optional
        ``level``; ``filters``; ``chunks`` and (format 3) ``shards`` as one size per
        dimension or ``{dim: size}`` (dims left out: whole); ``dtype`` (float to integer
        only with ``scale_factor``); ``scale_factor``, ``add_offset``, ``_FillValue``.
    zarr_format
        The format written (codecs differ between 2 and 3).

    Returns
    -------
    dict
        The encoding to hand to ``xarray.Dataset.to_zarr``.

    Raises
    ------
    ConfigError
        A variable that is not in the cube, an unknown key, or a value of the wrong form
        (the message names the variable and the key).

    Examples
    --------
    >>> cube = xr.Dataset({"nee": (("site", "time"), np.zeros((2, 4)))})
    >>> check_encoding(cube, {"nee": {"chunks": {"site": 1}}})
    {'nee': {'chunks': (1, 4)}}
    >>> check_encoding(cube, {"gpp": {"dtype": "float32"}})
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ConfigError: encoding names ['gpp'], not variables of the cube; ...
    """
    if encoding is None:
        return {}
    if not isinstance(encoding, Mapping):
        raise ConfigError(f"encoding={encoding!r}; expected {{variable: {{key: value}}}}")
    missing = sorted(set(encoding) - set(map(str, ds.variables)))
    if missing:
        raise ConfigError(
            f"encoding names {missing}, not variables of the cube; its variables are "
            f"{sorted(map(str, ds.variables))}"
        )
    return {
        name: _variable_encoding(name, spec, ds[name].variable, zarr_format)
        for name, spec in encoding.items()
    }


def _rechunked(ds: xr.Dataset, encoding: Mapping[str, Mapping[str, Any]]) -> xr.Dataset:
    """Dask chunks of the variables with encoded chunks (or shards) set to match them."""
    out = ds.copy()
    for name, spec in encoding.items():
        block = spec.get("shards", spec.get("chunks"))
        if block is not None and out[name].chunks is not None and name not in out.indexes:
            out[name] = out[name].chunk(dict(zip(out[name].dims, block, strict=True)))
    return out


def _differing_coords(old: xr.Dataset, new: xr.Dataset, path: Path) -> FluxgridError | None:
    """The error naming coordinates only one of the store and the appended cube has."""
    only_old = sorted(map(str, set(old.coords) - set(new.coords)))
    only_new = sorted(map(str, set(new.coords) - set(old.coords)))
    if not only_old and not only_new:
        return None
    parts = []
    if only_old:
        parts.append(f"coordinate(s) {only_old} of the store are missing in the new cube")
    if only_new:
        parts.append(f"coordinate(s) {only_new} of the new cube are not in the store")
    return FluxgridError(
        f"{path}: cannot append sites: {'; '.join(parts)}. Give the new cube the same "
        "coordinates (e.g. ds.assign_coords(name=('site', values)) or ds.drop_vars(names)), "
        "or rewrite the store with mode='w', overwrite=True"
    )


def write_cube(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    mode: Literal["w", "a"] = "w",
    overwrite: bool = False,
    zarr_format: Literal[2, 3] | None = None,
    encoding: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write a site cube to a chunked, consolidated Zarr store, atomically.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)`` (lazy or in memory).
    path
        Target store (a directory).
    mode
        ``"w"`` writes a new store (refusing an existing one unless ``overwrite``);
        ``"a"`` adds new sites to an existing store. When the time axes match, the existing
        chunks are copied and the new sites appended; otherwise the union time axis is
        written anew. Either way the old store is replaced only once the new one is complete.
        The new cube must have the store's coordinates (the same names).
    overwrite
        With ``mode="w"``, replace an existing store.
    zarr_format
        ``3`` (default for new stores) or ``2`` (for readers that only know format 2).
        Appending keeps the store's format (``None``, or the same number).
    encoding
        Per-variable storage, checked by :func:`check_encoding` before anything is written:
        ``{"nee": {"compressors": "zstd", "level": 5, "chunks": {"site": 1}},
        "ta": {"dtype": "int16", "scale_factor": 0.01, "_FillValue": -32768}}``. Variables
        not named use the chunk plan (:func:`chunk_plan`) and the format's default
        compressor (zstd). New stores only (``mode="w"``).

    Returns
    -------
    pathlib.Path
        The store path.

    Raises
    ------
    OutputExistsError
        If the store exists and neither ``overwrite`` nor ``mode="a"`` was given.
    ConfigError
        A bad ``encoding`` or ``zarr_format`` (the message names the variable and key).
    FluxgridError
        If appended sites are already in the store, the new cube's coordinates differ from
        the store's (the message names them), or ``encoding`` / another ``zarr_format``
        is given with ``mode="a"``.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> cube = xr.Dataset(
    ...     {"nee": (("site", "time"), np.zeros((2, 3), "float32"))},
    ...     coords={"site": ["DE-Hai", "US-MMS"], "time": pd.date_range("2010", periods=3)})
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = write_cube(cube, folder / "nee.zarr", encoding={"nee": {"compressors": "gzip"}})
    >>> store_format(path), open_cube(path).nee.encoding["compressors"][0].to_dict()["name"]
    (3, 'gzip')
    >>> shutil.rmtree(folder)
    """
    path = Path(path)
    if mode == "a" and not path.exists():
        mode = "w"
    if mode == "w":
        fmt = _check_format(3 if zarr_format is None else zarr_format)
        check_writable(path, overwrite)
        prepared = _prepared(ds, fmt)
        resolved = check_encoding(prepared, encoding, fmt)
        with atomic_path(path) as tmp:
            _write_zarr(
                _rechunked(prepared, resolved), tmp, mode="w", zarr_format=fmt, encoding=resolved
            )
        return path
    if mode != "a":
        raise FluxgridError(f"mode={mode!r}; expected 'w' (write) or 'a' (append sites)")
    _append(ds, path, zarr_format, encoding)
    return path


def _append(ds: xr.Dataset, path: Path, zarr_format: int | None, encoding: Mapping | None) -> None:
    """``write_cube(mode="a")`` on an existing store."""
    fmt = store_format(path)
    if zarr_format is not None and _check_format(zarr_format) != fmt:
        raise FluxgridError(
            f"{path} is a Zarr format {fmt} store; append with zarr_format={fmt} (or None), "
            f"or rewrite it in format {zarr_format} with mode='w', overwrite=True"
        )
    if encoding is not None:
        raise FluxgridError(
            f"{path}: encoding applies to new stores; appended sites take the store's "
            "encoding (rewrite the store with mode='w', overwrite=True to change it)"
        )
    old = open_cube(path)
    dup = sorted(set(map(str, ds.site.values)) & set(map(str, old.site.values)))
    if dup:
        raise FluxgridError(
            f"{path}: sites {dup} are already in the store; drop them from the new cube or "
            "rewrite the store with mode='w', overwrite=True"
        )
    error = _differing_coords(old, ds, path)
    if error is not None:
        raise error
    same_axis = (
        old.sizes["time"] == ds.sizes["time"]
        and bool((old.time.values == ds.time.values).all())
        and set(old.data_vars) == set(ds.data_vars)
    )
    with atomic_path(path) as tmp:
        if same_axis:
            shutil.copytree(path, tmp)
            new = _prepared(ds, fmt)
            first = next(iter(old.data_vars), None)
            chunks = old[first].chunks if first is not None else None
            new = new.chunk({"site": chunks[old[first].dims.index("site")][0]} if chunks else {})
            _write_zarr(
                new.drop_vars([c for c in new.coords if "site" not in new[c].dims and c != "site"]),
                tmp,
                append_dim="site",
            )
        else:
            merged = xr.concat(
                [_with_fixed_strings(old), _with_fixed_strings(ds)],
                dim="site",
                join="outer",
                combine_attrs="override",
            )
            _write_zarr(_prepared(merged, fmt), tmp, mode="w", zarr_format=fmt)


def open_cube(path: str | os.PathLike, *, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open a site cube written by :func:`write_cube` (or any Zarr/NetCDF cube), lazily.

    Parameters
    ----------
    path
        A Zarr store or a NetCDF file.
    chunks
        Dask chunks; ``"auto"`` uses the store's own chunks.

    Returns
    -------
    xarray.Dataset
        Dask-backed cube; nothing is loaded until computed.
    """
    path = Path(path)
    recover_interrupted_swap(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such store or file")
    try:
        if path.suffix in (".nc", ".nc4", ".netcdf"):
            return xr.open_dataset(path, chunks={} if chunks == "auto" else chunks)
        opened = xr.open_zarr(path, chunks={} if chunks == "auto" else chunks)
    except (OSError, ValueError, KeyError) as err:
        raise FileFormatError(path, f"cannot be opened as a site cube ({err})") from err
    return _plain_strings(opened)


def _plain_strings(ds: xr.Dataset) -> xr.Dataset:
    """Variable-length strings of a format 3 store as NumPy unicode / object, as in memory.

    Index coordinates (in memory anyway) become fixed-width unicode, as a format 2 store
    gives them; other string variables stay lazy, as objects.
    """
    fixed = {}
    for name, var in ds.variables.items():
        if name in ds.indexes and var.dtype.kind in "OT":  # object with NumPy < 2
            values = np.asarray(var.values).astype(object)
            if all(isinstance(v, str) for v in values.ravel()):
                fixed[name] = xr.Variable(
                    var.dims, values.astype(str), var.attrs, encoding=var.encoding
                )
        elif var.dtype.kind == "T":
            fixed[name] = var.astype(object)
    coords = {k: v for k, v in fixed.items() if k in ds.coords}
    return ds.assign_coords(coords).assign({k: v for k, v in fixed.items() if k not in coords})


def to_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    complevel: int = 4,
) -> Path:
    """Export a cube to compressed NetCDF-4, atomically.

    Parameters
    ----------
    ds
        Any dataset (site cube, results, maps).
    path
        Target ``.nc`` file.
    overwrite
        Replace an existing file.
    complevel
        zlib compression level for data variables.
    """
    path = check_writable(path, overwrite)
    encoding = {
        name: {"zlib": True, "complevel": complevel}
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "fiu"
    }
    out = ds.copy()
    for name in out.variables:
        if out[name].dtype == object:
            out[name] = out[name].astype(str)
        out[name].encoding = {}
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return path
