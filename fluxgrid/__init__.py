"""fluxgrid: from flux towers and satellites to carbon-flux maps.

Importing the package registers the ``ds.fluxgrid`` accessor. Public functions are loaded on
first use, so ``import fluxgrid`` stays light (no torch, no Dask distributed).

Examples
--------
>>> import fluxgrid
>>> cube = fluxgrid.load_demo_cube()
>>> monthly = cube.fluxgrid.to_monthly()
>>> monthly.sizes["time"]
72
"""

from __future__ import annotations

import logging as _logging

from . import accessor as _accessor  # noqa: F401  (registers ds.fluxgrid)
from ._lazy import lazy_names
from ._version import __version__
from .errors import FluxgridError

# messages go to the "fluxgrid" logger; the library adds no output of its own (the CLI does)
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

# public name -> module that defines it (imported on first access)
_PUBLIC = {
    "open_fluxnet_zarr": ".io.fluxnet_zarr",
    "read_site_metadata": ".io.metadata",
    "read_fluxnet": ".io.fluxnet",
    "parse_fluxnet_filename": ".io.fluxnet",
    "read_table": ".io.tables",
    "write_cube": ".io.store",
    "open_cube": ".io.store",
    "to_netcdf": ".io.store",
    "to_daily": ".prep.resample",
    "to_monthly": ".prep.resample",
    "qc_mask": ".prep.qc",
    "select_sites": ".prep.select",
    "load_demo_cube": ".data",
    "load_demo_hh": ".data",
    "set_progress": "._progress",
    "get_model": ".models",
    # gridded drivers, regional sinks, maps (upscaling stage)
    "open_grid": ".grids",
    "read_era5": ".grids",
    "era5_to_daily": ".grids",
    "make_grid": ".grids",
    "regrid": ".grids",
    "land_mask": ".grids",
    "vegetation_type": ".grids",
    "prepare_drivers": ".grids",
    "cell_area": ".regions",
    "regional_totals": ".regions",
    "totals_to_csv": ".regions",
    "write_map": ".io.maps",
    "open_map": ".io.maps",
    "check_cf": ".io.maps",
    "plot_mean_annual_nee": ".plots",
    "plot_regional_totals": ".plots",
    # model application (fluxgrid.upscale.upscale: the module name is taken), ensembles, demo
    "upscale_ensemble": ".upscale",
    "upscale_to_map": ".upscale",
    "validate_upscaling": ".upscale",
    "open_validation": ".upscale",
    "map_totals": ".upscale",
    "tower_grid": ".demo",
    "run_demo": ".demo",
    # remote sensing at towers (STAC, Sentinel-2/-1, MODIS LST, clear-sky, gridded products)
    "search_items": ".rs.stac",
    "load_site_cube": ".rs.stac_load",
    "s2_footprint": ".rs.sentinel2",
    "add_s2": ".rs.sentinel2",
    "s1_annulus": ".rs.sentinel1",
    "add_s1": ".rs.sentinel1",
    "lst_window": ".rs.modis",
    "add_lst": ".rs.modis",
    "read_fluxneteo": ".rs.modis",
    "clearsky_daily": ".rs.radiation",
    "add_clearsky": ".rs.radiation",
    "sample_grid": ".rs.sample",
    "add_gridded": ".rs.sample",
    "compute_indices": ".rs.indices",
    "fit_pca": ".rs.pca",
    # scales: gap filling of predictors and singular spectrum analysis
    "gapfill": ".prep.gapfill",
    "gapfill_report": ".prep.gapfill",
    "ssa": ".prep.ssa",
    "plot_ssa_components": ".plots",
    # models: splits, scaling, windows, tensors, training, evaluation
    "make_split": ".prep.splits",
    "fit_scaler": ".prep.scaling",
    "load_scaler": ".prep.scaling",
    "build_windows": ".windows",
    "input_features": ".windows",
    "WindowCube": ".tensors",
    "load_model": ".models",
    "load_experiment": ".training",
    "prepare": ".training",
    "train_experiment": ".training",
    "load_run": ".runs",
    "search": ".training",
    "cross_site_transfer": ".training",
    "metrics": ".evaluate",
    "scores": ".evaluate",
    "evaluate_run": ".evaluate",
    "growing_season": ".evaluate",
    "anomalies": ".evaluate",
    "climate_extremes": ".evaluate",
    "transfer_matrix": ".evaluate",
    "plot_obs_pred": ".plots",
    "plot_scatter": ".plots",
    "plot_transfer_matrix": ".plots",
    "plot_attention": ".plots",
    "plot_history": ".plots",
    # explanations: permutation importance, SHAP, response surfaces, attention
    "permutation_importance": ".explain",
    "attention_summary": ".explain",
    "relative_contribution": ".explain",
    "shap_values": ".explain",
    "response_surface": ".explain",
    "plot_importance": ".plots",
    "plot_shap_summary": ".plots",
    "plot_response_surface": ".plots",
    "plot_taylor": ".studies.guided.figures",
    # scale-knowledge-guided training (seasonal / interannual models on SSA components)
    "run_guided": ".studies.guided",
    "load_guided": ".studies.guided",
    # the forest GPP study (RNN vs GRU vs LSTM; full year, growing season, extremes)
    "run_gpp_study": ".studies.gpp",
    "load_gpp_config": ".studies.gpp",
    "load_gpp_data": ".studies.gpp",
    "first_years_split": ".studies.gpp",
    "fit_gpp_models": ".studies.gpp",
    "gpp_predictions": ".studies.gpp",
    "extreme_days": ".studies.gpp",
    "gpp_scores": ".studies.gpp",
    "score_summary": ".studies.gpp",
    "compare_models": ".studies.gpp",
    "gpp_importance": ".studies.gpp",
    "importance_ranking": ".studies.gpp",
    "plot_score_boxes": ".studies.gpp.figures",
    "plot_extreme_series": ".studies.gpp.figures",
    "plot_importance_ranking": ".studies.gpp.figures",
}

__all__ = ["FluxgridError", "__version__", *sorted(_PUBLIC)]


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
