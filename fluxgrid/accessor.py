"""The ``ds.fluxgrid`` accessor: one-line delegations to fluxgrid's public functions.

The accessor holds no state and no logic; every method calls a public function with the
wrapped dataset in the function's dataset argument and the method's own parameters, which are
the function's (same names, defaults and order; ``tests/test_accessor.py`` checks them), so
``help(ds.fluxgrid.to_daily)`` and tab completion show the real options and notebooks, the
command line and recipes run the same code. Functions of the torch-based stages (predictions,
upscaling, explanations) are imported on first use, so ``import fluxgrid`` stays light.

Examples
--------
>>> import fluxgrid  # registers the accessor
>>> daily = fluxgrid.load_demo_cube()
>>> daily.fluxgrid.to_monthly().sizes["time"]
72
>>> clean, report = daily.fluxgrid.qc_mask(threshold=0.7)
>>> int(report.dropped.sum())
0
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
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
from .rs.config import ClearSkyConfig, LSTConfig, S1Config, S2Config, StacConfig
from .rs.modis import add_lst
from .rs.radiation import add_clearsky
from .rs.sample import Method, add_gridded
from .rs.scl import MaskFunction
from .rs.sentinel1 import add_s1
from .rs.sentinel2 import add_s2
from .windows import WindowIndex, build_windows

if TYPE_CHECKING:  # pragma: no cover
    from .models import FluxModel
    from .runs import TrainedRun
    from .upscale.checks import RunLike

__all__ = ["FluxgridAccessor"]


@xr.register_dataset_accessor("fluxgrid")
class FluxgridAccessor:
    """Methods of fluxgrid on an :class:`xarray.Dataset` (site cube or gridded drivers)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # ---------------------------------------------------------------- foundation: site cubes
    def to_daily(
        self,
        *,
        min_coverage: float = 0.5,
        sums: Sequence[str] = ("p",),
        variables: Sequence[str] | None = None,
    ) -> xr.Dataset:
        """Aggregate a sub-daily site cube to local-standard-time days, all sites at once.

        See :func:`fluxgrid.prep.resample.to_daily`.
        """
        return to_daily(self._ds, min_coverage=min_coverage, sums=sums, variables=variables)

    def to_monthly(self, *, totals: bool = False, min_coverage: float = 0.5) -> xr.Dataset:
        """Aggregate a daily site cube to calendar months, all sites at once.

        See :func:`fluxgrid.prep.resample.to_monthly`.
        """
        return to_monthly(self._ds, totals=totals, min_coverage=min_coverage)

    def qc_mask(
        self,
        *,
        threshold: float = 0.7,
        targets: Sequence[str] | None = None,
        drop_negative_gpp: bool = True,
        min_valid_fraction: float = 0.6,
        period: slice | None = None,
    ) -> tuple[xr.Dataset, xr.Dataset]:
        """Mask targets by QC fraction and sign; drop sites with too little valid data.

        See :func:`fluxgrid.prep.qc.qc_mask`.
        """
        return qc_mask(
            self._ds,
            threshold=threshold,
            targets=targets,
            drop_negative_gpp=drop_negative_gpp,
            min_valid_fraction=min_valid_fraction,
            period=period,
        )

    def select(
        self,
        *,
        igbp: str | Sequence[str] | None = None,
        sites: str | Sequence[str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        min_years: float | None = None,
        variable: str = "nee",
    ) -> xr.Dataset:
        """Keep the sites that match every given criterion.

        See :func:`fluxgrid.prep.select.select_sites`.
        """
        return select_sites(
            self._ds, igbp=igbp, sites=sites, bbox=bbox, min_years=min_years, variable=variable
        )

    def gapfill(
        self,
        variables: str | Sequence[str] | None = None,
        *,
        max_gap: int = 5,
        long_gaps: Literal["climatology", "none"] = "climatology",
        min_count: int = 1,
    ) -> xr.Dataset:
        """Fill gaps of daily predictors; flux targets are never filled.

        See :func:`fluxgrid.prep.gapfill.gapfill`.
        """
        return gapfill(
            self._ds, variables, max_gap=max_gap, long_gaps=long_gaps, min_count=min_count
        )

    def ssa(
        self,
        variables: str | Sequence[str] | None = None,
        *,
        window: int | float = 0.5,
        rank: int | None = 64,
        seasonal_max: float = 16.0,
        trend_min: float = 128.0,
        period_unit: Literal["months", "days"] = "months",
        on_gaps: Literal["raise", "longest"] = "raise",
        solver: Literal["auto", "randomized", "full"] = "auto",
        oversample: int = 24,
        power_iterations: int = 8,
        seed: int = 0,
        batch_size: int = 16,
        step_days: float | None = None,
    ) -> xr.Dataset:
        """Decompose (site, time) variables into seasonal, interannual, trend and residual parts.

        See :func:`fluxgrid.prep.ssa.ssa`.
        """
        return ssa(
            self._ds,
            variables,
            window=window,
            rank=rank,
            seasonal_max=seasonal_max,
            trend_min=trend_min,
            period_unit=period_unit,
            on_gaps=on_gaps,
            solver=solver,
            oversample=oversample,
            power_iterations=power_iterations,
            seed=seed,
            batch_size=batch_size,
            step_days=step_days,
        )

    def to_zarr(
        self, path: str | os.PathLike, *, mode: Literal["w", "a"] = "w", overwrite: bool = False
    ) -> Path:
        """Write a site cube to a chunked, consolidated Zarr store, atomically.

        See :func:`fluxgrid.io.store.write_cube`.
        """
        return write_cube(self._ds, path, mode=mode, overwrite=overwrite)

    def to_netcdf(
        self, path: str | os.PathLike, *, overwrite: bool = False, complevel: int = 4
    ) -> Path:
        """Export a cube to compressed NetCDF-4, atomically.

        See :func:`fluxgrid.io.store.to_netcdf`.
        """
        return to_netcdf(self._ds, path, overwrite=overwrite, complevel=complevel)

    # ------------------------------------------------------ gridded drivers, maps, regional sinks
    def era5_to_daily(
        self,
        *,
        variables: Sequence[str] = ("ta", "sw_in", "vpd", "p", "ws"),
        accumulation: Literal["auto", "per_step", "since_midnight"] = "auto",
        day: Literal["utc", "solar"] = "utc",
        min_coverage: float = 1.0,
    ) -> xr.Dataset:
        """Hourly ERA5 / ERA5-Land fields -> daily canonical drivers on the standard grid.

        See :func:`fluxgrid.grids.era5_to_daily`.
        """
        return era5_to_daily(
            self._ds,
            variables=variables,
            accumulation=accumulation,
            day=day,
            min_coverage=min_coverage,
        )

    def regrid(
        self,
        target: xr.Dataset | xr.DataArray,
        *,
        method: Literal["auto", "conservative", "bilinear", "nearest"] = "auto",
        min_coverage: float = 0.5,
    ) -> xr.Dataset | xr.DataArray:
        """Regrid ``obj`` (dims ``(..., lat, lon)``) onto the lat/lon cells of ``target``.

        See :func:`fluxgrid.grids.regrid`.
        """
        return regrid(self._ds, target, method=method, min_coverage=min_coverage)

    def prepare_drivers(
        self,
        *,
        variables: Sequence[str] = ("ta", "sw_in", "vpd", "p", "ws"),
        mask: xr.DataArray | None = None,
    ) -> xr.Dataset:
        """Check and complete a daily driver grid for model inference.

        See :func:`fluxgrid.grids.prepare_drivers`.
        """
        return prepare_drivers(self._ds, variables=variables, mask=mask)

    def regional_sink(
        self,
        regions: xr.DataArray | xr.Dataset | Mapping[str, xr.DataArray] | None = None,
        *,
        names: Mapping[int, str] | None = None,
        variable: str | None = None,
        min_coverage: float = 0.0,
        full_years: bool = True,
        radius: float = 6371007.2,
        area: xr.DataArray | None = None,
    ) -> xr.Dataset:
        """Area-weighted annual totals per region (or vegetation type), TgC yr-1.

        See :func:`fluxgrid.regions.regional_totals`.
        """
        return regional_totals(
            self._ds,
            regions,
            names=names,
            variable=variable,
            min_coverage=min_coverage,
            full_years=full_years,
            radius=radius,
            area=area,
        )

    def to_map(
        self,
        path: str | os.PathLike,
        *,
        overwrite: bool = False,
        model: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        title: str | None = None,
        history: str | None = None,
        comment: str | None = None,
        complevel: int = 4,
        time_chunk: int = 1,
        tile_bytes: int = 4194304,
    ) -> Path:
        """Write CF-1.8 NetCDF-4 map(s), compressed and chunked for map access, atomically.

        See :func:`fluxgrid.io.maps.write_map`.
        """
        return write_map(
            self._ds,
            path,
            overwrite=overwrite,
            model=model,
            data=data,
            title=title,
            history=history,
            comment=comment,
            complevel=complevel,
            time_chunk=time_chunk,
            tile_bytes=tile_bytes,
        )

    # ---------------------------------------------------------------- remote sensing at towers
    def add_clearsky(
        self, *, config: ClearSkyConfig | None = None, lazy: bool = False
    ) -> xr.Dataset:
        """Add ``sw_clearsky`` (and ``sw_in_pot``) to a daily site cube.

        See :func:`fluxgrid.rs.radiation.add_clearsky`.
        """
        return add_clearsky(self._ds, config=config, lazy=lazy)

    def add_s2(
        self,
        source: str | os.PathLike | None = None,
        *,
        footprints: Mapping[str, xr.Dataset] | None = None,
        failed: Mapping[str, str] | None = None,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        config: S2Config | None = None,
        stac: StacConfig | None = None,
        mask: MaskFunction | None = None,
        interpolate: bool = False,
        max_gap_days: int = 16,
        on_error: str = "record",
    ) -> xr.Dataset:
        """Sentinel-2 predictors joined onto the site cube's daily axis.

        See :func:`fluxgrid.rs.sentinel2.add_s2`.
        """
        return add_s2(
            self._ds,
            source,
            footprints=footprints,
            failed=failed,
            start=start,
            end=end,
            config=config,
            stac=stac,
            mask=mask,
            interpolate=interpolate,
            max_gap_days=max_gap_days,
            on_error=on_error,
        )

    def add_s1(
        self,
        source: str | os.PathLike | None = None,
        *,
        annuli: dict[str, xr.Dataset] | None = None,
        failed: dict[str, str] | None = None,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        config: S1Config | None = None,
        stac: StacConfig | None = None,
        interpolate: bool = False,
        max_gap_days: int = 16,
        on_error: str = "record",
    ) -> xr.Dataset:
        """Sentinel-1 predictors joined onto the site cube's daily axis.

        See :func:`fluxgrid.rs.sentinel1.add_s1`.
        """
        return add_s1(
            self._ds,
            source,
            annuli=annuli,
            failed=failed,
            start=start,
            end=end,
            config=config,
            stac=stac,
            interpolate=interpolate,
            max_gap_days=max_gap_days,
            on_error=on_error,
        )

    def add_lst(
        self,
        source: str | os.PathLike | None = None,
        *,
        windows: dict[str, dict[str, xr.Dataset]] | None = None,
        failed: dict[str, str] | None = None,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        config: LSTConfig | None = None,
        stac: StacConfig | None = None,
        interpolate: bool = False,
        max_gap_days: int = 16,
        on_error: str = "record",
    ) -> xr.Dataset:
        """MODIS LST joined onto the site cube's daily axis.

        See :func:`fluxgrid.rs.modis.add_lst`.
        """
        return add_lst(
            self._ds,
            source,
            windows=windows,
            failed=failed,
            start=start,
            end=end,
            config=config,
            stac=stac,
            interpolate=interpolate,
            max_gap_days=max_gap_days,
            on_error=on_error,
        )

    def add_gridded(
        self,
        grid: xr.Dataset | xr.DataArray | str | os.PathLike,
        *,
        variables: Sequence[str] | None = None,
        names: Mapping[str, str] | None = None,
        method: Method = "nearest",
        buffer_m: float = 1000.0,
        interpolate: bool = False,
        max_gap_days: int = 16,
    ) -> xr.Dataset:
        """Sample a gridded product at the cube's towers and join it onto the daily axis.

        See :func:`fluxgrid.rs.sample.add_gridded`.
        """
        return add_gridded(
            self._ds,
            grid,
            variables=variables,
            names=names,
            method=method,
            buffer_m=buffer_m,
            interpolate=interpolate,
            max_gap_days=max_gap_days,
        )

    # ------------------------------------------------------ models: windows, predictions, scores
    def windows(
        self,
        drivers: Sequence[str],
        target: str | None,
        lookback: int,
        *,
        split: xr.Dataset | None = None,
        fill_gaps: int = 0,
        require_target: bool = True,
        features: xr.Dataset | None = None,
    ) -> WindowIndex:
        """Index every valid sequence-to-one sample of a site cube, vectorised.

        See :func:`fluxgrid.windows.build_windows`.
        """
        return build_windows(
            self._ds,
            drivers,
            target,
            lookback,
            split=split,
            fill_gaps=fill_gaps,
            require_target=require_target,
            features=features,
        )

    def predict(
        self,
        run: TrainedRun | str | os.PathLike,
        *,
        split: xr.Dataset | None = None,
        device: str | None = None,
        batch_size: int = 4096,
    ) -> xr.Dataset:
        """Predict ``ds`` with a :class:`TrainedRun` or a run directory (loaded first).

        See :func:`fluxgrid.runs.predict_with`.
        """
        from .runs import predict_with  # torch: loaded on first use

        return predict_with(run, self._ds, split=split, device=device, batch_size=batch_size)

    def scores(
        self,
        *,
        by: str | Sequence[str] = (),
        part: str | Sequence[str] | None = "test",
        subset: xr.DataArray | None = None,
        obs: str = "obs",
        pred: str = "pred",
    ) -> xr.Dataset:
        """Metrics of a predictions dataset, pooled or per group.

        See :func:`fluxgrid.evaluate.scores`.
        """
        return scores(self._ds, by=by, part=part, subset=subset, obs=obs, pred=pred)

    def growing_season(self) -> xr.DataArray:
        """Growing-season mask: May-September north of the equator, November-March south.

        See :func:`fluxgrid.evaluate.growing_season`.
        """
        return growing_season(self._ds)

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

    # ---------------------------------------------------------------- upscaling
    def upscale(
        self,
        run: RunLike | Sequence[RunLike],
        *,
        mask: xr.DataArray | None = None,
        igbp: xr.DataArray | None = None,
        period: tuple[Any, Any] | None = None,
        device: str = "auto",
        batch_size: int | None = None,
        chunk_bytes: int = 16777216,
        torch_threads: int | None = None,
        quantiles: Sequence[float] = (),
    ) -> xr.Dataset:
        """Apply a trained run to a daily driver grid: flux maps ``(time, lat, lon)``.

        See :func:`fluxgrid.upscale.upscale`.
        """
        from .upscale import upscale  # torch: loaded on first use

        return upscale(
            self._ds,
            run,
            mask=mask,
            igbp=igbp,
            period=period,
            device=device,
            batch_size=batch_size,
            chunk_bytes=chunk_bytes,
            torch_threads=torch_threads,
            quantiles=quantiles,
        )

    # ---------------------------------------------------------------- explanations
    def permutation_importance(
        self,
        model: TrainedRun | FluxModel | str | os.PathLike,
        windows: WindowIndex | str | Sequence[str] | None = "test",
        *,
        drivers: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        metric: str = "nrmse",
        n_repeats: int = 10,
        seed: int = 0,
        within: Literal["site", "all"] = "site",
        split: xr.Dataset | None = None,
        batch_size: int = 4096,
        device: str | None = None,
    ) -> xr.Dataset:
        """Permutation importance: how much ``metric`` worsens when a driver's inputs are shuffled.

        See :func:`fluxgrid.explain.permutation_importance`.
        """
        from .explain import permutation_importance  # torch: loaded on first use

        return permutation_importance(
            model,
            self._ds,
            windows,
            drivers=drivers,
            metric=metric,
            n_repeats=n_repeats,
            seed=seed,
            within=within,
            split=split,
            batch_size=batch_size,
            device=device,
        )

    def shap_values(
        self,
        model: TrainedRun | FluxModel | str | os.PathLike,
        windows: WindowIndex | str | Sequence[str] | None = "test",
        *,
        method: str = "auto",
        max_windows: int | None = 1000,
        background: int | WindowIndex = 8,
        steps: int = 64,
        tolerance: float | None = 0.01,
        max_steps: int = 512,
        nsamples: int = 200,
        groups: Mapping[str, Sequence[str]] | None = None,
        seed: int = 0,
        split: xr.Dataset | None = None,
        batch_size: int | None = None,
        device: str | None = None,
    ) -> xr.Dataset:
        """SHAP values of windows: additive contributions per window, lag and driver.

        See :func:`fluxgrid.explain.shap_values`.
        """
        from .explain import shap_values  # torch: loaded on first use

        return shap_values(
            model,
            self._ds,
            windows,
            method=method,
            max_windows=max_windows,
            background=background,
            steps=steps,
            tolerance=tolerance,
            max_steps=max_steps,
            nsamples=nsamples,
            groups=groups,
            seed=seed,
            split=split,
            batch_size=batch_size,
            device=device,
        )

    def attention_summary(
        self,
        attention: xr.Dataset | TrainedRun | str | os.PathLike,
        *,
        part: str | None = "test",
        by: str | None = "site",
        period: tuple[Any, Any] | None = None,
    ) -> xr.Dataset:
        """Attention of an iLSTM averaged per site (or vegetation type, month, year, or overall).

        See :func:`fluxgrid.explain.attention_summary`.
        """
        from .explain import attention_summary  # torch: loaded on first use

        return attention_summary(attention, self._ds, part=part, by=by, period=period)

    def response_surface(
        self,
        model: TrainedRun | FluxModel | str | os.PathLike,
        windows: WindowIndex | str | Sequence[str] | None = "test",
        *,
        x: str = "ta",
        y: str = "sw_in",
        x_offsets: Sequence[float] | None = None,
        y_offsets: Sequence[float] | None = None,
        by: Literal["site", "igbp"] | None = None,
        bins: int = 10,
        min_count: int = 5,
        min_fraction: float = 0.5,
        max_windows: int | None = None,
        seed: int = 0,
        split: xr.Dataset | None = None,
        batch_size: int = 4096,
        device: str | None = None,
    ) -> xr.Dataset:
        """Mean response to shifts of two drivers (others as observed), with a data mask.

        See :func:`fluxgrid.explain.response_surface`.
        """
        from .explain import response_surface  # torch: loaded on first use

        return response_surface(
            model,
            self._ds,
            windows,
            x=x,
            y=y,
            x_offsets=x_offsets,
            y_offsets=y_offsets,
            by=by,
            bins=bins,
            min_count=min_count,
            min_fraction=min_fraction,
            max_windows=max_windows,
            seed=seed,
            split=split,
            batch_size=batch_size,
            device=device,
        )
