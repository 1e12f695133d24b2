"""``fluxgrid drivers`` and ``fluxgrid upscale``: driver grids and carbon-flux maps."""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import ExitStack

from .._progress import progress_bar
from ..config.stages import UpscaleConfig
from ..errors import ConfigError, FluxgridWarning
from ..grids import DRIVER_VARIABLES, make_grid, open_grid, read_era5, regrid, write_grid
from ..io.atomic import check_writable, write_lock
from ..regions import totals_to_csv
from ..upscale import (
    config_layers,
    main_variable,
    map_totals,
    open_maps,
    read_fractions,
    upscale_config_to_map,
)

__all__ = ["run_drivers", "run_upscale"]


def run_drivers(args: argparse.Namespace) -> int:
    """ERA5 / ERA5-Land files -> daily drivers, optionally regridded, written as Zarr."""
    drivers = read_era5(
        args.sources,
        variables=args.variables or DRIVER_VARIABLES,
        accumulation=args.accumulation,
        day=args.day,
    )
    if args.resolution:
        drivers = regrid(drivers, make_grid(args.resolution, bbox=tuple(args.bbox)))
    with progress_bar(label=f"writing {args.output}"):
        write_grid(drivers, args.output, overwrite=args.overwrite)
    print(
        f"wrote {args.output}: {drivers.sizes['time']} days x {drivers.sizes['lat']} lat x "
        f"{drivers.sizes['lon']} lon, variables {', '.join(drivers.data_vars)} "
        f"(accumulation {drivers.attrs['accumulation']}, {drivers.attrs['day_definition']})"
    )
    return 0


def run_upscale(args: argparse.Namespace) -> int:
    """Apply runs to a driver grid: the NetCDF map and, on request, regional totals.

    The map (and the totals table) are locked for the whole command: a second
    ``fluxgrid upscale`` onto the same files meanwhile is refused. Every
    :class:`~fluxgrid.errors.FluxgridWarning` (a clipped ``--period``, days without any
    value, a stale lock taken over) is printed as ``fluxgrid upscale: warning: ...``.
    """
    if len(args.inputs) < 2:
        raise ConfigError("give one or more run directories and then the driver grid")
    with warnings.catch_warnings(record=True) as caught, ExitStack() as held:
        warnings.simplefilter("always", FluxgridWarning)
        try:
            held.enter_context(write_lock(args.output))
            if args.totals:
                held.enter_context(write_lock(args.totals))
                check_writable(args.totals, args.overwrite)
            return _upscale(args)
        finally:
            _show(caught, "upscale")


def _show(caught: list[warnings.WarningMessage], command: str) -> None:
    """FluxgridWarnings as one line each on stderr; other warnings shown as usual."""
    for w in caught:
        if issubclass(w.category, FluxgridWarning):
            print(f"fluxgrid {command}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _upscale(args: argparse.Namespace) -> int:
    """``fluxgrid upscale`` with its outputs locked."""
    *runs, drivers_path = args.inputs
    cfg = UpscaleConfig(  # the recipe's settings; torch keeps its own thread count here
        runs=tuple(runs),
        drivers=drivers_path,
        igbp=args.igbp,
        mask=args.mask,
        period=tuple(args.period) if args.period else None,
        quantiles=tuple(args.quantiles),
        device=args.device,
        batch_size=args.batch_size,
        chunk_mb=args.chunk_mb,
        torch_threads=None,
    )
    fractions = None
    if getattr(args, "fractions", None):
        if args.igbp:
            raise ConfigError("give --igbp (majority class) or --fractions, not both")
        fractions = read_fractions(args.fractions)
    drivers = open_grid(drivers_path)
    igbp, mask = config_layers(cfg)
    path = upscale_config_to_map(
        cfg,
        drivers,
        args.output,
        igbp=igbp,
        mask=mask,
        overwrite=args.overwrite,
        clip_period=args.clip_period,
        fractions=fractions,
    )
    maps = open_maps(path)
    variable = main_variable(maps)
    print(
        f"wrote {path}: {', '.join(maps.data_vars)} on {maps.sizes['time']} days x "
        f"{maps.sizes['lat']} lat x {maps.sizes['lon']} lon ({maps[variable].attrs['units']})"
    )
    if args.totals:
        table = map_totals(maps, igbp, variable=variable, fractions=fractions)
        totals_to_csv(table, args.totals, overwrite=args.overwrite)
        name = "sink" if "sink" in table else "total"
        print(f"regional {name} (TgC yr-1):")
        print(table[name].to_pandas().to_string(float_format=lambda v: f"{v:.2f}"))
        print(f"wrote {args.totals}")
    return 0
