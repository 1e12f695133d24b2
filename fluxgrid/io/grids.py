"""Old home of the gridded drivers, now :mod:`fluxgrid.grids` (kept for one release).

Every public name the module had (its ``__all__``) forwards to :mod:`fluxgrid.grids` with a
:class:`DeprecationWarning`.
"""

from .._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    dict.fromkeys(
        (
            "DRIVER_VARIABLES ERA5_SOURCES IGBP_CLASSES cell_edges class_fractions "
            "conservative_weights detect_accumulation drivers_from_config era5_to_daily "
            "grid_chunk_plan grid_edges grid_to_sites land_mask make_grid open_grid open_raster "
            "prepare_drivers read_era5 rechunk_for_inference regrid saturation_vapour_pressure "
            "sites_to_grid standardise_grid vegetation_mask vegetation_type write_grid"
        ).split(),
        "fluxgrid.grids",
    ),
)
