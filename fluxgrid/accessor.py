"""The ``ds.fluxgrid`` accessor: one-line delegations to fluxgrid's public functions.

The accessor holds no state and no logic: every method calls a public function with the
wrapped dataset in the function's dataset argument. Each method is made by
:func:`delegate` from the function it calls and carries that function's real signature
(less the dataset) and docstring, so ``help(ds.fluxgrid.to_daily)`` and tab completion show
the real options, and the two can never drift apart (``tests/test_accessor.py`` compares
them). Notebooks, the command line and recipes run the same code. The functions of the
torch-based stages (predictions, upscaling, explanations) are imported on first use, so
``import fluxgrid`` stays light.

Examples
--------
>>> import inspect
>>> import fluxgrid  # registers the accessor
>>> daily = fluxgrid.load_demo_cube()
>>> daily.fluxgrid.to_monthly().sizes["time"]
72
>>> clean, report = daily.fluxgrid.qc_mask(threshold=0.7)
>>> int(report.dropped.sum())
0
>>> list(inspect.signature(daily.fluxgrid.to_monthly).parameters)
['totals', 'min_coverage']
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

import xarray as xr

from .evaluate import climate_extremes, growing_season, scores
from .grids import era5_to_daily, prepare_drivers, regrid
from .io.maps import write_map
from .io.store import to_netcdf, write_cube
from .prep.gapfill import gapfill
from .prep.qc import qc_mask
from .prep.resample import to_daily, to_monthly
from .prep.select import select_sites
from .prep.splits import make_split
from .prep.ssa import ssa
from .regions import regional_totals
from .rs.modis import add_lst
from .rs.radiation import add_clearsky
from .rs.sample import add_gridded
from .rs.sentinel1 import add_s1
from .rs.sentinel2 import add_s2
from .windows import build_windows

__all__ = ["FluxgridAccessor", "delegate"]


def _resolve(function: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(function):
        return function
    module, _, name = function.rpartition(".")
    return getattr(importlib.import_module(module), name)


def delegate(function: Callable[..., Any] | str, *, dataset: int = 0) -> Any:
    """An accessor method calling ``function`` with the wrapped dataset as argument ``dataset``.

    Parameters
    ----------
    function
        The public function, or its dotted path (``"fluxgrid.runs.predict_with"``: imported on
        first use, for functions whose module loads torch).
    dataset
        Position of the dataset among the function's parameters (0: the first; 1: after the
        run, as in ``predict_with(run, ds)``).

    Returns
    -------
    property
        A property giving the bound method, whose ``__signature__`` is the function's without
        the dataset and whose ``__doc__`` is the function's.
    """

    @functools.cache
    def parts() -> tuple[Callable[..., Any], inspect.Signature, str]:
        func = _resolve(function)
        sig = inspect.signature(func)
        params = list(sig.parameters.values())
        name = params.pop(dataset).name
        return func, sig.replace(parameters=params), name

    def bound(accessor: FluxgridAccessor) -> Callable[..., Any]:
        func, sig, name = parts()

        def method(*args: Any, **kwargs: Any) -> Any:
            arguments = sig.bind(*args, **kwargs).arguments
            return func(**{name: accessor._ds, **arguments})

        method.__signature__ = sig  # type: ignore[attr-defined]
        method.__doc__ = f"{func.__doc__}\n\n(Accessor method: the wrapped dataset is ``{name}``.)"
        method.__name__ = method.__qualname__ = func.__name__
        method.__module__ = func.__module__
        return method

    if isinstance(function, str):
        doc = f"See :func:`{function}` (imported on first use)."
    else:
        summary = (inspect.getdoc(function) or "").split("\n")[0]
        doc = f"{summary} See :func:`{function.__module__}.{function.__name__}`."
    return property(bound, doc=doc)


@xr.register_dataset_accessor("fluxgrid")
class FluxgridAccessor:
    """Methods of fluxgrid on an :class:`xarray.Dataset` (site cube or gridded drivers)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # ---------------------------------------------------------------- site cubes
    to_daily = delegate(to_daily)
    to_monthly = delegate(to_monthly)
    qc_mask = delegate(qc_mask)
    select = delegate(select_sites)
    gapfill = delegate(gapfill)
    ssa = delegate(ssa)
    to_zarr = delegate(write_cube)
    to_netcdf = delegate(to_netcdf)

    # ---------------------------------------------------------------- gridded drivers, maps, sinks
    era5_to_daily = delegate(era5_to_daily)
    regrid = delegate(regrid)
    prepare_drivers = delegate(prepare_drivers)
    regional_sink = delegate(regional_totals)
    to_map = delegate(write_map)

    # ---------------------------------------------------------------- remote sensing at towers
    add_clearsky = delegate(add_clearsky)
    add_s2 = delegate(add_s2)
    add_s1 = delegate(add_s1)
    add_lst = delegate(add_lst)
    add_gridded = delegate(add_gridded)

    # ---------------------------------------------------------------- models and scores
    windows = delegate(build_windows)
    predict = delegate("fluxgrid.runs.predict_with", dataset=1)  # torch: loaded on first use
    scores = delegate(scores)
    growing_season = delegate(growing_season)

    def split(
        self,
        method: Literal[
            "random_years",
            "temporal",
            "year_ranges",
            "leave_sites_out",
            "leave_igbp_out",
            "site_kfold",
        ] = "random_years",
        *,
        target: str = "nee",
        test_fraction: float | None = None,
        train_years: tuple[int, int] | None = None,
        test_years: tuple[int, int] | None = None,
        val_years: tuple[int, int] | None = None,
        test_sites: tuple[str, ...] = (),
        test_igbp: tuple[str, ...] = (),
        n_folds: int = 5,
        fold: int = 0,
        validation: Literal["years", "tail", "sites", "none"] = "years",
        val_fraction: float = 0.2,
        seed: int = 0,
    ) -> xr.Dataset:
        """Train/val/test split as data, from the keys of :class:`~fluxgrid.config.SplitConfig`.

        See :func:`fluxgrid.prep.splits.make_split`.
        """
        config = {
            "method": method,
            "test_fraction": test_fraction,
            "train_years": train_years,
            "test_years": test_years,
            "val_years": val_years,
            "test_sites": test_sites,
            "test_igbp": test_igbp,
            "n_folds": n_folds,
            "fold": fold,
            "validation": validation,
            "val_fraction": val_fraction,
            "seed": seed,
        }
        return make_split(self._ds, config, target=target)

    def climate_extremes(
        self,
        variable: str,
        *,
        quantile: float = 0.1,
        min_duration: int = 5,
        tail: str = "all",
        smooth_days: int = 0,
    ) -> xr.DataArray:
        """Extreme-event mask of one variable; see :func:`fluxgrid.evaluate.climate_extremes`."""
        return climate_extremes(
            self._ds[variable],
            quantile=quantile,
            min_duration=min_duration,
            tail=tail,
            smooth_days=smooth_days,
        )

    # ---------------------------------------------------------------- torch stages (first use)
    upscale = delegate("fluxgrid.upscale.upscale")
    permutation_importance = delegate("fluxgrid.explain.permutation_importance", dataset=1)
    shap_values = delegate("fluxgrid.explain.shap_values", dataset=1)
    attention_summary = delegate("fluxgrid.explain.attention_summary", dataset=1)
    response_surface = delegate("fluxgrid.explain.response_surface", dataset=1)
