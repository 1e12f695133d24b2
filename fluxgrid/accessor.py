"""The ``ds.fluxgrid`` accessor: one-line delegations to fluxgrid's public functions.

The accessor holds no state and no logic; every method calls a public function with the
wrapped dataset as first argument, so notebooks, the command line and recipes run the same
code. Modules are imported inside the methods to keep ``import fluxgrid`` light.

Examples
--------
>>> import fluxgrid  # registers the accessor
>>> from fluxgrid.testing import load_demo_cube
>>> daily = load_demo_cube()                       # doctest: +SKIP
>>> monthly = daily.fluxgrid.to_monthly()          # doctest: +SKIP
>>> clean, report = daily.fluxgrid.qc_mask(threshold=0.7)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import xarray as xr

__all__ = ["FluxgridAccessor"]


@xr.register_dataset_accessor("fluxgrid")
class FluxgridAccessor:
    """Methods of fluxgrid on an :class:`xarray.Dataset` (site cube or gridded drivers)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # ---------------------------------------------------------------- foundation: cubes
    def to_daily(self, **kwargs: Any) -> xr.Dataset:
        """Sub-daily -> local-standard-time days; see :func:`fluxgrid.prep.resample.to_daily`."""
        from .prep.resample import to_daily

        return to_daily(self._ds, **kwargs)

    def to_monthly(self, **kwargs: Any) -> xr.Dataset:
        """Daily -> calendar months; see :func:`fluxgrid.prep.resample.to_monthly`."""
        from .prep.resample import to_monthly

        return to_monthly(self._ds, **kwargs)

    def qc_mask(self, **kwargs: Any) -> tuple[xr.Dataset, xr.Dataset]:
        """Mask targets by QC and drop poor sites; see :func:`fluxgrid.prep.qc.qc_mask`."""
        from .prep.qc import qc_mask

        return qc_mask(self._ds, **kwargs)

    def select(self, **kwargs: Any) -> xr.Dataset:
        """Select sites (igbp, bbox, ...); see :func:`fluxgrid.prep.select.select_sites`."""
        from .prep.select import select_sites

        return select_sites(self._ds, **kwargs)

    def to_zarr(self, path: str, **kwargs: Any) -> Any:
        """Write chunked, consolidated Zarr atomically; see :func:`fluxgrid.io.store.write_cube`."""
        from .io.store import write_cube

        return write_cube(self._ds, path, **kwargs)

    def to_netcdf(self, path: str, **kwargs: Any) -> Any:
        """Write compressed NetCDF, atomically; see :func:`fluxgrid.io.store.to_netcdf`."""
        from .io.store import to_netcdf

        return to_netcdf(self._ds, path, **kwargs)

    # ---------------------------------------------------------------- upscaling: grids, sinks, maps
    def era5_to_daily(self, **kwargs: Any) -> xr.Dataset:
        """ERA5/ERA5-Land hourly -> daily drivers; see :func:`fluxgrid.io.grids.era5_to_daily`."""
        from .io.grids import era5_to_daily

        return era5_to_daily(self._ds, **kwargs)

    def regrid(self, target: Any, **kwargs: Any) -> xr.Dataset:
        """Regrid onto ``target``'s lat/lon; see :func:`fluxgrid.io.grids.regrid`."""
        from .io.grids import regrid

        return regrid(self._ds, target, **kwargs)

    def prepare_drivers(self, **kwargs: Any) -> xr.Dataset:
        """Daily drivers ready for inference; see :func:`fluxgrid.io.grids.prepare_drivers`."""
        from .io.grids import prepare_drivers

        return prepare_drivers(self._ds, **kwargs)

    def upscale(self, model_or_run_dir: Any, **kwargs: Any) -> xr.Dataset:
        """Apply trained run(s) to these daily drivers; see :func:`fluxgrid.upscale.upscale`."""
        from .upscale import upscale

        return upscale(self._ds, model_or_run_dir, **kwargs)

    def regional_sink(self, regions: Any = None, **kwargs: Any) -> xr.Dataset:
        """Annual totals per region, TgC yr-1; see :func:`fluxgrid.regions.regional_totals`."""
        from .regions import regional_totals

        return regional_totals(self._ds, regions, **kwargs)

    def to_map(self, path: str, **kwargs: Any) -> Any:
        """Write CF-1.8 NetCDF maps atomically; see :func:`fluxgrid.io.maps.write_map`."""
        from .io.maps import write_map

        return write_map(self._ds, path, **kwargs)

    # ---------------------------------------------------------------- remote sensing at towers
    def add_clearsky(self, **kwargs: Any) -> xr.Dataset:
        """Daily clear-sky shortwave; see :func:`fluxgrid.rs.radiation.add_clearsky`."""
        from .rs.radiation import add_clearsky

        return add_clearsky(self._ds, **kwargs)

    def add_s2(self, source: Any = None, **kwargs: Any) -> xr.Dataset:
        """Sentinel-2 NBAR indices + PCA; see :func:`fluxgrid.rs.sentinel2.add_s2`."""
        from .rs.sentinel2 import add_s2

        return add_s2(self._ds, source, **kwargs)

    def add_s1(self, source: Any = None, **kwargs: Any) -> xr.Dataset:
        """Sentinel-1 gamma0 and DpRVI; see :func:`fluxgrid.rs.sentinel1.add_s1`."""
        from .rs.sentinel1 import add_s1

        return add_s1(self._ds, source, **kwargs)

    def add_lst(self, source: Any = None, **kwargs: Any) -> xr.Dataset:
        """MODIS land-surface temperature; see :func:`fluxgrid.rs.modis.add_lst`."""
        from .rs.modis import add_lst

        return add_lst(self._ds, source, **kwargs)

    def add_gridded(self, grid: Any, **kwargs: Any) -> xr.Dataset:
        """Gridded product sampled at towers; see :func:`fluxgrid.rs.sample.add_gridded`."""
        from .rs.sample import add_gridded

        return add_gridded(self._ds, grid, **kwargs)

    # ---------------------------------------------------------------- scales: gap filling, SSA
    def gapfill(self, variables: Any = None, **kwargs: Any) -> xr.Dataset:
        """Fill predictor gaps (never targets); see :func:`fluxgrid.prep.gapfill.gapfill`."""
        from .prep.gapfill import gapfill

        return gapfill(self._ds, variables, **kwargs)

    def ssa(self, variables: Any = None, **kwargs: Any) -> xr.Dataset:
        """SSA into seasonal/interannual/trend/residual; see :func:`fluxgrid.prep.ssa.ssa`."""
        from .prep.ssa import ssa

        return ssa(self._ds, variables, **kwargs)

    # ---------------------------------------------------------------- models: windows, training
    def windows(self, drivers: Any, target: Any, lookback: int, **kwargs: Any) -> Any:
        """Index of valid sequence-to-one windows; see :func:`fluxgrid.windows.build_windows`."""
        from .windows import build_windows

        return build_windows(self._ds, drivers, target, lookback, **kwargs)

    def split(self, target: str = "nee", **config: Any) -> xr.Dataset:
        """Train/val/test split as data; see :func:`fluxgrid.prep.splits.make_split`."""
        from .prep.splits import make_split

        return make_split(self._ds, config, target=target)

    def predict(self, run: Any, **kwargs: Any) -> xr.Dataset:
        """Predictions of a trained run (object or directory); see :meth:`TrainedRun.predict`."""
        from .train import predict_with

        return predict_with(run, self._ds, **kwargs)

    def scores(self, **kwargs: Any) -> xr.Dataset:
        """Metrics of a predictions dataset; see :func:`fluxgrid.evaluate.scores`."""
        from .evaluate import scores

        return scores(self._ds, **kwargs)

    def growing_season(self) -> xr.DataArray:
        """Growing-season mask; see :func:`fluxgrid.evaluate.growing_season`."""
        from .evaluate import growing_season

        return growing_season(self._ds)

    def climate_extremes(self, variable: str, **kwargs: Any) -> xr.DataArray:
        """Extreme-event mask of one variable; see :func:`fluxgrid.evaluate.climate_extremes`."""
        from .evaluate import climate_extremes

        return climate_extremes(self._ds[variable], **kwargs)

    # ---------------------------------------------------------------- explanations
    def permutation_importance(self, run: Any, windows: Any = "test", **kwargs: Any) -> xr.Dataset:
        """Shuffled-driver skill loss; see :func:`fluxgrid.explain.permutation_importance`."""
        from .explain import permutation_importance

        return permutation_importance(run, self._ds, windows, **kwargs)

    def attention_summary(self, run: Any, **kwargs: Any) -> xr.Dataset:
        """Attention alpha/beta per site; see :func:`fluxgrid.explain.attention_summary`."""
        from .explain import attention_summary

        return attention_summary(run, self._ds, **kwargs)

    def shap_values(self, run: Any, windows: Any = "test", **kwargs: Any) -> xr.Dataset:
        """SHAP values per window, lag and driver; see :func:`fluxgrid.explain.shap_values`."""
        from .explain import shap_values

        return shap_values(run, self._ds, windows, **kwargs)

    def response_surface(self, run: Any, windows: Any = "test", **kwargs: Any) -> xr.Dataset:
        """Response to two shifted drivers; see :func:`fluxgrid.explain.response_surface`."""
        from .explain import response_surface

        return response_surface(run, self._ds, windows, **kwargs)
