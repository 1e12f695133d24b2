"""``fluxgrid ingest``: any flux source -> a site cube (Zarr or NetCDF), through the one chain."""

from __future__ import annotations

import argparse

from .._progress import progress_bar
from ..io.store import to_netcdf, write_cube
from ..prep.pipeline import site_cube

__all__ = ["run_ingest"]


def run_ingest(args: argparse.Namespace) -> int:
    """Read, select, resample, QC and write a site cube (see ``fluxgrid ingest --help``)."""
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
    )
    with progress_bar(label=f"writing {args.output}"):
        if str(args.output).endswith(".nc"):
            to_netcdf(cube, args.output, overwrite=args.overwrite)
        else:
            write_cube(
                cube, args.output, mode="a" if args.append else "w", overwrite=args.overwrite
            )
    print(
        f"wrote {args.output}: {cube.sizes['site']} sites x {cube.sizes['time']} "
        f"{cube.attrs.get('resolution', '')} steps, variables {', '.join(cube.data_vars)}"
    )
    if report is not None:
        dropped = report.site.values[report.dropped.values].tolist()
        print(
            f"QC: dropped sites {dropped or 'none'}; values removed per reason: "
            f"{report.removed.sum(('site', 'target')).to_series().to_dict()}"
        )
    return 0
