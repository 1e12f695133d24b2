"""The ``fluxgrid`` command line: thin wrappers over the public functions.

Each subcommand is a pair of functions, ``_add_<name>(parser)`` declaring its arguments and
``_run_<name>(args)`` doing the work by calling library functions, listed in ``COMMANDS``.

Examples
--------
::

    fluxgrid demo
    fluxgrid ingest ../shared/data/fluxnet2015/hh.zarr --sites US-MMS DE-Hai -o cube.zarr
    fluxgrid ingest FLX_*_FLUXNET2015_SUBSET_MM_*.csv --to native -o monthly.zarr
    fluxgrid ingest FLX_DE-Hai_FLUXNET2015_FULLSET_2000-2012_1-4.zip --resolution HH -o hai.zarr
    fluxgrid ingest chinaflux_daily.csv --column-map chinaflux_daily.yaml -o cn.zarr
    fluxgrid upscale runs/lstm drivers_2012.zarr -o nee_map.nc --totals sinks.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import FluxgridError

__all__ = ["main"]


# --------------------------------------------------------------------------- ingest
def _add_ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sources", nargs="+", help="FLUXNET files, folders, .zip archives or a Zarr store"
    )
    p.add_argument("-o", "--output", required=True, help="output Zarr store (or .nc file)")
    p.add_argument(
        "--to",
        choices=["native", "daily", "monthly"],
        default="daily",
        help="resolution of the output cube (default: daily)",
    )
    p.add_argument("--sites", nargs="+", help="keep only these site IDs")
    p.add_argument(
        "--metadata", help="site metadata table (flat CSV or BIF); default: bundled list"
    )
    p.add_argument(
        "--resolution",
        choices=["HH", "HR", "DD", "WW", "MM", "YY"],
        help="FLUXNET files: read only this resolution (needed for archives holding several)",
    )
    p.add_argument(
        "--column-map",
        metavar="YAML",
        help="read SOURCE as a plain CSV/Excel table with this column map (e.g. ChinaFLUX)",
    )
    p.add_argument(
        "--min-coverage",
        type=float,
        default=0.5,
        help="share of records a day (or days a month) needs to be kept",
    )
    p.add_argument(
        "--qc",
        type=float,
        default=None,
        metavar="FRACTION",
        help="mask targets whose QC fraction is below FRACTION (e.g. 0.7)",
    )
    p.add_argument("--append", action="store_true", help="add the sites to an existing store")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _run_ingest(args: argparse.Namespace) -> int:
    from .io.sources import read_source
    from .io.store import to_netcdf, write_cube
    from .prep.qc import qc_mask
    from .prep.resample import to_daily, to_monthly

    if args.column_map:
        from .errors import ConfigError
        from .io.tables import read_table
        from .prep.select import select_sites

        if len(args.sources) != 1:
            raise ConfigError("--column-map reads one table; give one SOURCE per ingest call")
        cube = read_table(args.sources[0], args.column_map, metadata=args.metadata)
        if args.sites:
            cube = select_sites(cube, sites=args.sites)
    else:
        cube = read_source(
            args.sources, sites=args.sites, metadata=args.metadata, resolution=args.resolution
        )
    resolution = cube.attrs.get("resolution", "")
    if args.to in ("daily", "monthly") and resolution in ("HH", "HR"):
        cube = to_daily(cube, min_coverage=args.min_coverage)
    if args.to == "monthly" and cube.attrs.get("resolution") == "DD":
        cube = to_monthly(cube, min_coverage=args.min_coverage)
    report = None
    if args.qc is not None:
        cube, report = qc_mask(cube, threshold=args.qc)
    from ._progress import progress_bar

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


# --------------------------------------------------------------------------- demo
def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--overwrite", action="store_true", default=True, help=argparse.SUPPRESS)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.output))
    return 0


# --------------------------------------------------------------------------- run
def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe YAML, e.g. recipes/quickstart.yaml")
    p.add_argument("-o", "--output", help="output folder (default: runs/<recipe>)")
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address, or 'threads' for no cluster (default: a new LocalCluster)",
    )
    p.add_argument("--workers", type=int, help="LocalCluster workers")
    p.add_argument("--threads-per-worker", type=int, help="LocalCluster threads per worker")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute outputs that exist (default: skip them and resume)",
    )


def _run_run(args: argparse.Namespace) -> int:
    from .recipe import run_recipe

    result = run_recipe(
        args.recipe,
        output=args.output,
        scheduler=args.scheduler,
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        overwrite=args.overwrite,
    )
    for name, path in result.items():
        print(f"    {name}: {path}")
    return 0


# --------------------------------------------------------------------------- drivers
def _add_drivers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sources", nargs="+", help="ERA5 / ERA5-Land NetCDF files, a glob or a Zarr store"
    )
    p.add_argument("-o", "--output", required=True, help="output Zarr store (daily drivers)")
    p.add_argument(
        "--accumulation",
        choices=["auto", "per_step", "since_midnight"],
        default="auto",
        help="ssrd/tp convention: per_step (ERA5), since_midnight (ERA5-Land), auto (detect)",
    )
    p.add_argument("--day", choices=["utc", "solar"], default="utc", help="UTC or local solar days")
    p.add_argument(
        "--variables", nargs="+", default=None, help="drivers to make (default: ta sw_in vpd p ws)"
    )
    p.add_argument("--resolution", type=float, help="regrid onto a regular grid of this size (deg)")
    p.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
        default=(-180.0, -90.0, 180.0, 90.0),
        help="extent of the --resolution grid",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _run_drivers(args: argparse.Namespace) -> int:
    from ._progress import progress_bar
    from .io.grids import DRIVER_VARIABLES, make_grid, read_era5, regrid, write_grid

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


# --------------------------------------------------------------------------- train / evaluate
def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML (see recipes/train.yaml)")
    p.add_argument("-o", "--output", help="run directory (default: the config's output)")
    p.add_argument("--device", help="override train.device (auto, cpu, cuda)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")


def _run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from .evaluate import METRICS
    from .training import load_experiment, train_experiment

    cfg = load_experiment(args.config)
    if args.device:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=args.device))
    run_dir = train_experiment(cfg, output=args.output, overwrite=args.overwrite)
    _print_pooled(run_dir / "metrics.csv", METRICS)
    print(f"run directory: {run_dir}")
    return 0


def _print_pooled(path: Path, metrics: Sequence[str]) -> None:
    import pandas as pd

    table = pd.read_csv(path, index_col=0)
    print(table[[m for m in metrics if m in table]].to_string(float_format=lambda v: f"{v:.3f}"))


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory written by fluxgrid train")
    p.add_argument(
        "--by",
        nargs="*",
        default=["site"],
        choices=["site", "year", "month", "igbp"],
        help="groupings scored besides the pooled scores (default: site)",
    )
    p.add_argument("--part", default="test", choices=["train", "val", "test"], help="part shown")


def _run_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from .evaluate import METRICS, evaluate_run

    out = evaluate_run(args.run_dir, by=args.by)
    print(f"pooled scores ({out.attrs.get('target', '')}, {out.attrs.get('units', '')}):")
    _print_pooled(Path(args.run_dir) / "metrics.csv", METRICS)
    for group in args.by:
        if args.part not in out.part.values:
            break
        cols = {m: out[f"{m}_by_{group}"].sel(part=args.part).to_series() for m in METRICS}
        print(f"\n{args.part} scores by {group}:")
        print(pd.DataFrame(cols).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nwrote {Path(args.run_dir) / 'metrics.nc'} and metrics.csv")
    return 0


# --------------------------------------------------------------------------- upscale
def _add_upscale(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="RUN_DIR... DRIVERS",
        help="one or more run directories (several: ensemble), then the daily driver grid "
        "(Zarr store from `fluxgrid drivers`, or NetCDF)",
    )
    p.add_argument("-o", "--output", required=True, help="output NetCDF map, e.g. nee_map.nc")
    p.add_argument("--igbp", help="grid file with an integer 'igbp' (lat, lon) layer")
    p.add_argument("--mask", help="grid file with a boolean 'mask' or 'land' (lat, lon) layer")
    p.add_argument("--period", nargs=2, metavar=("START", "END"), help="dates of the maps")
    p.add_argument(
        "--quantiles", nargs="+", type=float, default=(), help="ensemble quantiles, e.g. 0.05 0.95"
    )
    p.add_argument("--totals", metavar="CSV", help="also write regional totals (TgC yr-1) here")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=int, help="windows per model call")
    p.add_argument("--chunk-mb", type=float, default=16.0, help="MiB per driver and tile")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _run_upscale(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .io.atomic import check_writable
    from .io.grids import open_grid
    from .regions import totals_to_csv
    from .upscale import main_variable, map_totals, open_maps, read_layer, upscale_to_map

    if len(args.inputs) < 2:
        raise ConfigError("give one or more run directories and then the driver grid")
    *runs, drivers_path = args.inputs
    if args.totals:
        check_writable(args.totals, args.overwrite)
    drivers = open_grid(drivers_path)
    igbp = read_layer(args.igbp, ("igbp",)) if args.igbp else None
    mask = read_layer(args.mask, ("mask", "land")) if args.mask else None
    path = upscale_to_map(
        runs,
        drivers,
        args.output,
        overwrite=args.overwrite,
        igbp=igbp,
        mask=mask,
        period=tuple(args.period) if args.period else None,
        quantiles=args.quantiles,
        device=args.device,
        batch_size=args.batch_size,
        chunk_bytes=int(args.chunk_mb * 2**20),
    )
    maps = open_maps(path)
    variable = main_variable(maps)
    print(
        f"wrote {path}: {', '.join(maps.data_vars)} on {maps.sizes['time']} days x "
        f"{maps.sizes['lat']} lat x {maps.sizes['lon']} lon ({maps[variable].attrs['units']})"
    )
    if args.totals:
        table = map_totals(maps, igbp, variable=variable)
        totals_to_csv(table, args.totals, overwrite=args.overwrite)
        name = "sink" if "sink" in table else "total"
        print(f"regional {name} (TgC yr-1):")
        print(table[name].to_pandas().to_string(float_format=lambda v: f"{v:.2f}"))
        print(f"wrote {args.totals}")
    return 0


# --------------------------------------------------------------------------- explain
def _add_explain(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory written by fluxgrid train")
    p.add_argument(
        "--method",
        required=True,
        choices=["permutation", "shap", "attention", "response"],
        help="permutation importance, SHAP values, iLSTM attention or a response surface",
    )
    p.add_argument("--part", default="test", choices=["train", "val", "test"], help="windows")
    p.add_argument(
        "--drivers",
        nargs="+",
        help="permutation: drivers shuffled (default: the run's); response: the two drivers "
        "shifted (default: ta sw_in)",
    )
    p.add_argument("--metric", default="nrmse", help="permutation metric (default nrmse)")
    p.add_argument("--n-repeats", type=int, default=10, help="permutation repeats (default 10)")
    p.add_argument(
        "--max-windows", type=int, default=1000, help="SHAP: windows explained (default 1000)"
    )
    p.add_argument(
        "--by",
        default="site",
        choices=["site", "igbp", "none"],
        help="grouping of SHAP shares, attention and response surfaces (default site)",
    )
    p.add_argument("--device", help="auto, cpu, cuda (default: the run's)")
    p.add_argument("-o", "--output", help="folder for <method>.nc/.png (default RUN_DIR/explain)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _run_explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from .errors import ConfigError
    from .io.atomic import check_writable
    from .io.store import to_netcdf
    from .plots import (
        plot_attention,
        plot_importance,
        plot_response_surface,
        plot_shap_summary,
        save_figure,
    )
    from .runs import load_run

    run = load_run(args.run_dir, device=args.device or "auto")
    if "scale" in run.inputs:
        raise ConfigError(
            f"{args.run_dir} was trained on {run.inputs['scale']} SSA components, not on the "
            "raw cube; explain it in Python on ScaleData.scale_cube(...) (see "
            "fluxgrid.guided.GuidedResult.contributions)"
        )
    out = Path(args.output) if args.output else Path(args.run_dir) / "explain"
    nc = check_writable(out / f"{args.method}.nc", args.overwrite)
    png = check_writable(out / f"{args.method}.png", args.overwrite)
    cube = run.load_cube()
    by = None if args.by == "none" else args.by
    if args.method == "permutation":
        from .explain import permutation_importance

        result = permutation_importance(
            run,
            cube,
            args.part,
            drivers=args.drivers,
            metric=args.metric,
            n_repeats=args.n_repeats,
            device=args.device,
        )
        fig = plot_importance(result)
        table = pd.DataFrame(
            {
                "importance": result.importance_pooled.to_series(),
                "sd": result.importance_pooled_std.to_series(),
            }
        )
        print(f"permutation importance ({result.attrs['metric']}, {args.part} windows, pooled):")
    elif args.method == "shap":
        from .explain import relative_contribution, shap_values

        result = shap_values(run, cube, args.part, max_windows=args.max_windows, device=args.device)
        fig = plot_shap_summary(result, by=by)
        table = relative_contribution(result, by=by).to_pandas()
        print(f"relative contribution (%, {result.attrs['method']}, {args.part} windows):")
    elif args.method == "attention":
        from .explain import attention_summary, label_igbp

        att = label_igbp(run.attention(cube, part=args.part), cube)
        result = attention_summary(att, by=by)
        fig = plot_attention(att)
        table = result.beta.to_pandas()
        print(f"mean variable attention beta ({args.part} windows):")
    else:
        from .explain import response_surface

        if args.drivers is not None and len(args.drivers) != 2:
            raise ConfigError("--method response needs exactly two --drivers (x and y)")
        x, y = args.drivers or ("ta", "sw_in")
        result = response_surface(run, cube, args.part, x=x, y=y, by=by, device=args.device)
        group = None if by is None else result[by].values[0]
        fig = plot_response_surface(result, group=group)
        change = result.change if by is None else result.change.sel({by: group})
        table = change.to_pandas()
        where = "" if by is None else f" at {group}"
        print(f"mean change of the prediction ({result.attrs['units']}){where}:")
    print(pd.DataFrame(table).to_string(float_format=lambda v: f"{v:.3f}"))
    out.mkdir(parents=True, exist_ok=True)
    to_netcdf(result, nc, overwrite=args.overwrite)
    save_figure(fig, png, overwrite=args.overwrite)
    print(f"wrote {nc} and {png}")
    return 0


COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "demo": ("run the main job on the bundled FLUXNET2015 subset", _add_demo, _run_demo),
    "drivers": ("ERA5 / ERA5-Land files -> daily driver grid (Zarr)", _add_drivers, _run_drivers),
    "evaluate": (
        "score a run directory (pooled, per site/year/IGBP)",
        _add_evaluate,
        _run_evaluate,
    ),
    "explain": (
        "explain a run: permutation importance, SHAP, attention, response surface",
        _add_explain,
        _run_explain,
    ),
    "ingest": ("read flux files or a Zarr store into a site cube", _add_ingest, _run_ingest),
    "run": ("run a recipe (YAML + module) on a Dask cluster", _add_run, _run_run),
    "train": ("train a model from an experiment YAML into a run directory", _add_train, _run_train),
    "upscale": (
        "apply trained run(s) to daily driver grids: NetCDF map, regional totals",
        _add_upscale,
        _run_upscale,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of ``COMMANDS``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="fluxgrid",
        description="From flux towers and satellites to carbon-flux maps.",
    )
    parser.add_argument("--version", action="version", version=f"fluxgrid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fluxgrid`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except FluxgridError as err:
        print(f"fluxgrid {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; outputs already written are complete, nothing partial was left",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
