"""Options of every ``fluxgrid`` command (no work is done here; see :mod:`fluxgrid.cli`)."""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Callable

__all__ = [
    "add_demo",
    "add_drivers",
    "add_evaluate",
    "add_explain",
    "add_ingest",
    "add_run",
    "add_train",
    "add_upscale",
    "date_text",
    "fraction",
]


def fraction(option: str) -> Callable[[str], float]:
    """An argparse ``type`` for a share between 0 and 1; the message names ``option``.

    Examples
    --------
    >>> fraction("--qc")("0.7")
    0.7
    >>> fraction("--qc")("5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 5 is outside 0..1; --qc takes a fraction between 0 and 1, e.g. 0.7
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number; {option} takes a fraction between 0 and 1, e.g. 0.7"
            ) from None
        if not 0 <= value <= 1:
            raise argparse.ArgumentTypeError(
                f"{text} is outside 0..1; {option} takes a fraction between 0 and 1, e.g. 0.7"
            )
        return value

    parse.__name__ = "fraction"
    return parse


_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def date_text(text: str) -> str:
    """An argparse ``type`` for a date (YYYY-MM-DD, YYYY-MM or YYYY), checked, kept as text.

    Examples
    --------
    >>> date_text("2012-06-30")
    '2012-06-30'
    >>> date_text("2012-13-01")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '2012-13-01' is not a date; expected YYYY-MM-DD (or YYYY-MM, ...
    """
    match = _PARTIAL_DATE.match(text.strip())
    try:
        if match:
            datetime.date(int(match.group(1)), int(match.group(2) or 1), 1)
        else:
            datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; expected YYYY-MM-DD (or YYYY-MM, YYYY), e.g. 2012-01-01"
        ) from None
    return text.strip()


class _Period(argparse.Action):
    """``--period START END``: two dates, the start not after the end."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: list[str],
        option_string: str | None = None,
    ) -> None:
        start, end = values
        if _date_key(start) > _date_key(end):
            parser.error(f"argument {option_string}: start {start} is after end {end}")
        setattr(namespace, self.dest, values)


def _date_key(text: str) -> str:
    """A date as sortable text (YYYY -> YYYY-01-01, YYYY-MM -> YYYY-MM-01)."""
    return {4: f"{text}-01-01", 7: f"{text}-01"}.get(len(text), text)


def add_ingest(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid ingest``."""
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
        type=fraction("--min-coverage"),
        default=0.5,
        metavar="FRACTION",
        help="share of records a day (or days a month) needs to be kept (0-1, default 0.5)",
    )
    p.add_argument(
        "--qc",
        type=fraction("--qc"),
        default=None,
        metavar="FRACTION",
        help="mask targets whose QC fraction is below FRACTION (0-1, e.g. 0.7)",
    )
    p.add_argument(
        "--min-valid-fraction",
        type=fraction("--min-valid-fraction"),
        default=0.6,
        metavar="FRACTION",
        help="with --qc: drop sites with a smaller share of valid target values (default 0.6)",
    )
    p.add_argument(
        "--drop-torn-last-line",
        action="store_true",
        help="FLUXNET files: leave out a last line that is cut short (truncated download) "
        "and report it, instead of refusing the file",
    )
    p.add_argument("--append", action="store_true", help="add the sites to an existing store")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def add_demo(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid demo``."""
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--overwrite", action="store_true", default=True, help=argparse.SUPPRESS)


def add_run(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid run``."""
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
        help="recompute outputs that exist, also those of a changed config (default: skip "
        "them and resume; a changed config is refused)",
    )


def add_drivers(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid drivers``."""
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


def add_train(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid train``."""
    p.add_argument("config", help="experiment YAML (see recipes/train.yaml)")
    p.add_argument("-o", "--output", help="run directory (default: the config's output)")
    p.add_argument("--device", help="override train.device (auto, cpu, cuda)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")


def add_evaluate(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid evaluate``."""
    p.add_argument("run_dir", help="run directory written by fluxgrid train")
    p.add_argument(
        "--by",
        nargs="*",
        default=["site"],
        choices=["site", "year", "month", "igbp"],
        help="groupings scored besides the pooled scores (default: site)",
    )
    p.add_argument("--part", default="test", choices=["train", "val", "test"], help="part shown")


def add_upscale(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid upscale``."""
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
    p.add_argument(
        "--fractions",
        metavar="PATH",
        help="upscale by cover fraction: NetCDF/Zarr with a 'class_fraction' (class, lat, lon) "
        "variable on the drivers' grid (class_fractions of a land-cover grid); instead of "
        "--igbp. With --totals, the classes' shares are reported",
    )
    p.add_argument(
        "--period",
        nargs=2,
        type=date_text,
        action=_Period,
        metavar=("START", "END"),
        help="first and last date of the maps (YYYY-MM-DD)",
    )
    p.add_argument(
        "--clip-period",
        action="store_true",
        help="map only the days of --period the drivers cover, warning about the others "
        "(default: refuse a period the drivers do not cover)",
    )
    p.add_argument(
        "--quantiles", nargs="+", type=float, default=(), help="ensemble quantiles, e.g. 0.05 0.95"
    )
    p.add_argument("--totals", metavar="CSV", help="also write regional totals (TgC yr-1) here")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=int, help="windows per model call")
    p.add_argument("--chunk-mb", type=float, default=16.0, help="MiB per driver and tile")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def add_explain(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid explain``."""
    p.add_argument("run_dir", help="run directory written by fluxgrid train")
    p.add_argument(
        "--method",
        required=True,
        metavar="METHOD",
        # not argparse choices: methods are registered (fluxgrid.explain.EXPLAINERS) and
        # importing the registry here would load torch for every command's --help
        help="a registered explanation method: permutation (importance), shap (SHAP values), "
        "attention (iLSTM), response (response surface); an unknown name lists them all",
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


def add_validate_upscaling(p: argparse.ArgumentParser) -> None:
    """Options of ``fluxgrid validate-upscaling``."""
    p.add_argument("config", help="experiment YAML (its split is replaced by site folds)")
    p.add_argument("-o", "--output", required=True, help="result folder")
    p.add_argument("--folds", type=int, default=5, help="site folds, stratified by IGBP (5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (0)")
    p.add_argument("--device", help="override train.device (auto, cpu, cuda)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result folder")
