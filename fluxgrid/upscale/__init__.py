"""Upscaling: trained models applied to gridded drivers, blockwise, as NEE/GPP maps.

:func:`upscale` turns a daily driver grid ``(time, lat, lon)`` and one trained run (or
several: :func:`upscale_ensemble`) into flux maps in the run's target units (gC m-2 d-1):

1. **Checks before any work.** The drivers are brought to the canonical names and units
   (:func:`fluxgrid.grids.prepare_drivers`: a missing driver is named together with the
   ERA5 fields it is made from), latitudes/longitudes are range-checked, the time axis must
   be daily and at least one look-back long, and the run must fit the grid
   (:func:`check_run`: daily model, drivers the grid has, units the drivers can be converted
   to, static inputs that can be built for grid cells, an IGBP grid when the model has an
   IGBP one-hot).
2. **Blocks.** The drivers are chunked as the full time axis x ``(lat, lon)`` tiles of about
   ``chunk_bytes`` per variable; one :func:`dask.array.blockwise` task per tile runs
   :func:`predict_pixels`, with the trained runs in the graph once.
3. **Pixels become a batch.** Inside a tile the cells of the mask become the "sites" of a
   :class:`fluxgrid.tensors.WindowCube` and their complete windows are gathered on the
   device, ``batch_size`` at a time; memory per task is bounded by the tile and the batch,
   not by the grid.
4. **Inputs as in training**: the run's drivers (short gaps filled when the run used
   ``fill_gaps``), day of year, cell centre and IGBP one-hot, in the order of
   ``inputs.json``, scaled with the run's scaler.
5. **Missing values.** The map is NaN for the first ``lookback - 1`` days (no complete
   window), on days whose window has a missing driver, and in cells outside the mask (the
   ``mask`` argument, a ``land`` coordinate from ``prepare_drivers(mask=...)``, and cells
   whose IGBP grid value is negative, i.e. no vegetation type). Nothing is filled.
   Maps without any value (e.g. a NaN-only driver) are refused, naming the NaN-only
   drivers; mappable days without a value in any cell are named in a
   :class:`~fluxgrid.errors.FluxgridWarning` (:func:`check_map_values`).
6. **Period.** A ``period`` the drivers do not cover (ending after their last day, or
   starting before their first day plus the look-back) is refused, naming the drivers'
   range and the missing days; ``clip_period=True`` (``--clip-period``) maps only the
   covered days and warns naming the others.
7. **One writer.** :func:`upscale_to_map` holds the lock ``.NAME.lock`` of its file for the
   whole call (:mod:`fluxgrid.io.atomic`): a second upscaling onto the same file is refused.

Ensembles (:func:`upscale_ensemble`) predict every member inside the same tile (one pass
over the drivers) and return the member mean, the standard deviation across members
(``ddof=1``) and optional quantiles; a value is defined only where every member has one.
Results carry provenance attributes (model, run directories, training sites, driver
source, fluxgrid version) that :func:`fluxgrid.io.maps.write_map` writes into the NetCDF
file; :func:`upscale_to_map` checks, infers and writes atomically in one call.

The modules, each with one job (each imports only those above it):

``checks``
    runs loaded and checked against the drivers, provenance (:func:`load_runs`,
    :func:`check_run`, :func:`provenance`);
``inference``
    the per-tile kernel: cells as a device batch (:func:`predict_pixels`);
``layers``
    ``(lat, lon)`` layers: IGBP grids and masks read and put on the drivers' grid
    (:func:`read_layer`);
``members``
    the lazy Dask graph, one task per tile with every member in it;
``maps``
    the maps and their file (:func:`upscale`, :func:`upscale_ensemble`,
    :func:`upscale_to_map`, :func:`upscale_config_to_map`);
``totals``
    after the maps: :func:`open_maps`, :func:`main_variable`, :func:`map_totals`;
``validation``
    the honest accuracy of a map: towers held out by site folds and predicted through the
    same kernel (:func:`validate_upscaling`).

No module is named after a function it exports, so ``fluxgrid.upscale.upscale`` stays the
function. Names are loaded on first use: ``from fluxgrid.upscale import map_totals`` reads
a map's totals without importing torch.

Examples
--------
>>> from fluxgrid.grids import open_grid
>>> drivers = open_grid("drivers_2012.zarr")                    # doctest: +SKIP
>>> maps = upscale(drivers, "runs/lstm_seed0")                  # doctest: +SKIP
>>> maps.nee.dims                                               # doctest: +SKIP
('time', 'lat', 'lon')
>>> ens = upscale_ensemble(drivers, ["runs/s0", "runs/s1", "runs/s2"], quantiles=(0.05, 0.95))
...                                                             # doctest: +SKIP
>>> upscale_to_map(["runs/s0", "runs/s1"], drivers, "nee_map.nc")  # doctest: +SKIP
"""

from __future__ import annotations

from .._lazy import lazy_names

#: public name -> module of this package that defines it
_PUBLIC = {
    "DEFAULT_CHUNK_BYTES": ".members",
    "check_map_values": ".maps",
    "check_run": ".checks",
    "class_variable": ".totals",
    "config_layers": ".layers",
    "load_runs": ".checks",
    "main_variable": ".totals",
    "map_totals": ".totals",
    "open_maps": ".totals",
    "open_validation": ".validation",
    "fraction_layer": ".layers",
    "predict_fractions": ".inference",
    "predict_pixels": ".inference",
    "provenance": ".checks",
    "read_fractions": ".layers",
    "read_layer": ".layers",
    "upscale": ".maps",
    "upscale_config_to_map": ".maps",
    "upscale_ensemble": ".maps",
    "upscale_to_map": ".maps",
    "validate_upscaling": ".validation",
}

__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
