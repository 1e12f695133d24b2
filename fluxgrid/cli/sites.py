"""``fluxgrid ingest``: any flux source -> a site cube (Zarr or NetCDF), through the one chain."""

from __future__ import annotations

import argparse
import sys
import warnings

import xarray as xr

from .._progress import progress_bar
from ..errors import FluxgridWarning
from ..io.store import open_cube, to_netcdf, write_cube
from ..prep.pipeline import check_not_empty, site_cube

__all__ = ["run_ingest"]


def run_ingest(args: argparse.Namespace) -> int:
    """Read, select, resample, QC and write a site cube (see ``fluxgrid ingest --help``).

    Every :class:`~fluxgrid.errors.FluxgridWarning` (a torn last line left out, variables
    or sites without any valid value) is printed as ``fluxgrid ingest: warning: ...``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FluxgridWarning)
        try:
            cube, report = _ingest(args)
        finally:
            _print_warnings(caught)
    print(
        f"wrote {args.output}: {cube.sizes['site']} sites x {cube.sizes['time']} "
        f"{cube.attrs.get('resolution', '')} steps, variables {', '.join(cube.data_vars)}"
    )
    dropped = [line for line in str(cube.attrs.get("dropped_lines", "")).splitlines() if line]
    for line in dropped:
        print(f"dropped (--drop-torn-last-line): {line}")
    if report is not None:
        sites = report.site.values[report.dropped.values].tolist()
        print(
            f"QC: dropped sites {sites or 'none'}; values removed per reason: "
            f"{report.removed.sum(('site', 'target')).to_series().to_dict()}"
        )
    return 0


def _ingest(args: argparse.Namespace) -> tuple[xr.Dataset, xr.Dataset | None]:
    sources = args.sources[0] if len(args.sources) == 1 else args.sources
    cube, report = site_cube(
        sources,
        column_map=args.column_map,
        metadata=args.metadata,
        file_resolution=args.resolution,
        sites=args.sites,
        to=args.to,
        min_coverage=args.min_coverage,
        qc_threshold=args.qc,
        min_valid_fraction=args.min_valid_fraction,
        drop_torn_last_line=args.drop_torn_last_line,
    )
    with progress_bar(label=f"writing {args.output}"):
        if str(args.output).endswith(".nc"):
            to_netcdf(cube, args.output, overwrite=args.overwrite)
        else:
            write_cube(
                cube, args.output, mode="a" if args.append else "w", overwrite=args.overwrite
            )
    if cube.chunks:
        # a lazy cube was not computed twice for the check: look at what was written
        written = open_cube(args.output)
        check_not_empty(written.sel(site=cube.site.values), source=args.output, refuse=False)
    return cube, report


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """FluxgridWarnings as one line each on stderr; other warnings shown as usual."""
    for w in caught:
        if issubclass(w.category, FluxgridWarning):
            print(f"fluxgrid ingest: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
