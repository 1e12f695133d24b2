"""Spectral indices of the Awesome Spectral Indices catalogue (via spyndex) for Sentinel-2.

:func:`s2_index_names` lists every catalogue index whose platforms include Sentinel-2 and
whose inputs Sentinel-2 can provide; :func:`compute_indices` evaluates them all at once on
arrays of any shape (one vectorised expression per index, no loop over pixels or dates).

How the inputs are set
----------------------
* Bands: ``A`` = B01, ``B`` = B02, ``G`` = B03, ``R`` = B04, ``RE1..3`` = B05..B07,
  ``N`` = B08, ``N2`` = B8A, ``S1`` = B11, ``S2`` = B12 (surface reflectance, 0-1).
* Constants (``L``, ``g``, ``C1``, ``C2``, ``alpha``, ``gamma``, ``sla``, ``slb``, ...): the
  catalogue defaults (``spyndex.constants[name].default``; e.g. g = 2.5, C1 = 6, C2 = 7.5,
  L = 1), unless overridden with ``constants={"L": 0.5}``.
* Wavelengths (``lambdaG``, ``lambdaR``, ``lambdaN``, ``lambdaN2``, ``lambdaS1``,
  ``lambdaS2``): centre wavelengths of the Sentinel-2A bands from the catalogue, nm.
* Kernels (``kNN``, ``kNR``, ``kNB``, ``kNL``, ``kGG``, ``kGR``, ``kGB``): the RBF kernel
  ``k(a, b) = exp(-(a - b)^2 / (2 sigma^2))`` with the per-sample length scale
  ``sigma = (a + b) / 2`` (Camps-Valls et al. 2021), so that kNDVI = tanh(NDVI^2);
  ``kNN = kGG = 1``; ``kNL`` uses the constant ``L``.
* Excluded: indices that need inputs Sentinel-2 does not measure (``PAR`` for NIRvP); they
  are listed by :func:`s2_excluded_indices` with the reason.

Examples
--------
>>> import numpy as np
>>> names = s2_index_names()
>>> len(names) > 100, "NDVI" in names
(True, True)
>>> refl = {"B04": np.array([0.05]), "B08": np.array([0.45])}
>>> out = compute_indices(refl, ["NDVI"])
>>> round(float(out.sel(index="NDVI")[0]), 3)
0.8
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import RemoteSensingError

__all__ = [
    "SPYNDEX_BANDS",
    "compute_indices",
    "index_parameters",
    "s2_excluded_indices",
    "s2_index_names",
]

#: spyndex band letter -> Sentinel-2 band id
SPYNDEX_BANDS: dict[str, str] = {
    "A": "B01",
    "B": "B02",
    "G": "B03",
    "R": "B04",
    "RE1": "B05",
    "RE2": "B06",
    "RE3": "B07",
    "N": "B08",
    "N2": "B8A",
    "WV": "B09",
    "S1": "B11",
    "S2": "B12",
}
_WAVELENGTHS = {
    "lambdaG": "G",
    "lambdaR": "R",
    "lambdaN": "N",
    "lambdaN2": "N2",
    "lambdaS1": "S1",
    "lambdaS2": "S2",
}
#: kernel parameter -> the two inputs of the RBF kernel
_KERNELS = {
    "kNN": ("N", "N"),
    "kNR": ("N", "R"),
    "kNB": ("N", "B"),
    "kNL": ("N", "L"),
    "kGG": ("G", "G"),
    "kGR": ("G", "R"),
    "kGB": ("G", "B"),
}
#: inputs that are not Sentinel-2 measurements nor catalogue constants with a default
_NOT_FROM_S2 = {"PAR": "photosynthetically active radiation is not measured by Sentinel-2"}


@cache
def _catalogue() -> tuple[dict[str, tuple[str, ...]], dict[str, str], dict[str, float]]:
    """(index -> inputs, excluded index -> reason, constant -> default) for Sentinel-2."""
    spyndex = lazy_import("spyndex")
    defaults = {
        name: float(c.default) for name, c in spyndex.constants.items() if c.default is not None
    }
    known = set(SPYNDEX_BANDS) | set(_WAVELENGTHS) | set(_KERNELS) | set(defaults)
    usable: dict[str, tuple[str, ...]] = {}
    excluded: dict[str, str] = {}
    for name, index in spyndex.indices.items():
        if "Sentinel-2" not in index.platforms:
            continue
        inputs = tuple(index.bands)
        missing = [b for b in inputs if b not in known]
        if missing:
            reasons = [
                _NOT_FROM_S2.get(b, f"input {b!r} has no Sentinel-2 source") for b in missing
            ]
            excluded[name] = "; ".join(reasons)
        else:
            usable[name] = inputs
    return usable, excluded, defaults


def s2_index_names() -> list[str]:
    """Every catalogue index applicable to Sentinel-2 that fluxgrid computes (sorted)."""
    return sorted(_catalogue()[0])


def s2_excluded_indices() -> dict[str, str]:
    """Sentinel-2 indices of the catalogue that cannot be computed, with the reason."""
    return dict(_catalogue()[1])


def _rbf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sigma = 0.5 * (a + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(-((a - b) ** 2) / (2.0 * sigma**2))


def index_parameters(
    reflectance: Mapping[str, np.ndarray], constants: Mapping[str, float] | None = None
) -> dict[str, np.ndarray | float]:
    """The parameter mapping spyndex evaluates formulas with.

    Parameters
    ----------
    reflectance
        Sentinel-2 band id (``"B04"``) -> surface reflectance array (all the same shape).
    constants
        Overrides of catalogue constants (``{"L": 0.5}``).

    Returns
    -------
    dict
        Band letters, constants, wavelengths (nm) and kernel values.
    """
    spyndex = lazy_import("spyndex")
    _, _, defaults = _catalogue()
    params: dict[str, np.ndarray | float] = dict(defaults)
    unknown = sorted(set(constants or {}) - set(spyndex.constants))
    if unknown:
        raise RemoteSensingError(
            f"unknown index constant(s) {unknown}; catalogue constants: {sorted(spyndex.constants)}"
        )
    params.update({k: float(v) for k, v in (constants or {}).items()})
    for letter, band in SPYNDEX_BANDS.items():
        if band in reflectance:
            params[letter] = np.asarray(reflectance[band])
    for name, letter in _WAVELENGTHS.items():
        params[name] = float(spyndex.bands[letter].sentinel2a.wavelength)
    for name, (a, b) in _KERNELS.items():
        if a in params and b in params:
            if a == b:
                params[name] = np.ones_like(np.asarray(params[a], dtype="float64"))
            else:
                params[name] = _rbf(np.asarray(params[a]), np.asarray(params[b]))
    return params


def compute_indices(
    reflectance: Mapping[str, np.ndarray] | xr.DataArray,
    names: Sequence[str] | None = None,
    *,
    constants: Mapping[str, float] | None = None,
    band_dim: str = "band",
) -> xr.DataArray:
    """Spectral indices of Sentinel-2 surface reflectance, all in one vectorised pass.

    Parameters
    ----------
    reflectance
        Band id -> array (any shape), or a DataArray with a ``band`` dimension holding
        band ids (``B02`` ...). Reflectance as a fraction (0-1).
    names
        Catalogue names; ``None`` = :func:`s2_index_names`.
    constants
        Overrides of catalogue constants.
    band_dim
        Name of the band dimension of a DataArray input.

    Returns
    -------
    xarray.DataArray
        Float32, dims of the input (band dim dropped) plus a trailing ``index`` dimension;
        values that are not finite (division by zero) are NaN.

    Raises
    ------
    RemoteSensingError
        An unknown or non-Sentinel-2 index, or a band the index needs is missing.
    """
    spyndex = lazy_import("spyndex")
    usable, excluded, _ = _catalogue()
    names = list(usable) if names is None else list(names)
    bad = [n for n in names if n not in usable]
    if bad:
        why = {n: excluded.get(n, "not a Sentinel-2 index of the catalogue") for n in bad}
        raise RemoteSensingError(f"indices cannot be computed from Sentinel-2: {why}")
    if isinstance(reflectance, xr.DataArray):
        template = reflectance.isel({band_dim: 0}, drop=True)
        arrays = {
            str(b): reflectance.sel({band_dim: b}).values.astype("float64")
            for b in reflectance[band_dim].values
        }
    else:
        arrays = {k: np.asarray(v, dtype="float64") for k, v in reflectance.items()}
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
        template = xr.DataArray(np.empty(shape), dims=[f"dim_{i}" for i in range(len(shape))])
    params = index_parameters(arrays, constants)
    needed = {b for n in names for b in usable[n] if b in SPYNDEX_BANDS}
    lacking = sorted(b for b in needed if b not in params)
    if lacking:
        raise RemoteSensingError(
            f"indices need Sentinel-2 bands {[SPYNDEX_BANDS[b] for b in lacking]} that are not in "
            "the reflectance given; load them or choose other indices"
        )
    values = np.empty((*template.shape, len(names)), dtype="float32")
    with np.errstate(all="ignore"):
        results = spyndex.computeIndex(names, params=params, returnOrigin=False)
        if len(names) == 1:
            results = [results]
        for i, result in enumerate(results):
            values[..., i] = result
    values[~np.isfinite(values)] = np.nan
    out = xr.DataArray(
        values,
        dims=(*template.dims, "index"),
        coords={**{k: v for k, v in template.coords.items()}, "index": names},
        name="s2_indices",
        attrs={
            "long_name": "spectral indices (Awesome Spectral Indices catalogue, via spyndex)",
            "units": "1",
        },
    )
    return out
