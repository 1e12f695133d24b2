"""The ``fluxgrid`` command line: thin wrappers over the public functions.

Each command is declared in :mod:`fluxgrid.cli.arguments` (its options, light to import) and
run by a function in the module that ``COMMANDS`` names (imported only when that command
runs, so ``fluxgrid --help`` stays fast and torch loads only for commands that need it).

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
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from .._progress import progress_setting, set_progress
from .._version import __version__
from ..errors import FluxgridError
from . import arguments

__all__ = ["COMMANDS", "build_parser", "main"]

#: command -> (help, declares the options, "module:function" that runs it)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    "demo": (
        "run the main job on the bundled FLUXNET2015 subset",
        arguments.add_demo,
        "recipes:run_demo",
    ),
    "drivers": (
        "ERA5 / ERA5-Land files -> daily driver grid (Zarr)",
        arguments.add_drivers,
        "grids:run_drivers",
    ),
    "evaluate": (
        "score a run directory (pooled, per site/year/IGBP)",
        arguments.add_evaluate,
        "models:run_evaluate",
    ),
    "explain": (
        "explain a run: permutation importance, SHAP, attention, response surface",
        arguments.add_explain,
        "explain:run_explain",
    ),
    "ingest": (
        "read flux files or a Zarr store into a site cube",
        arguments.add_ingest,
        "sites:run_ingest",
    ),
    "run": (
        "run a recipe (YAML + module) on a Dask cluster",
        arguments.add_run,
        "recipes:run_recipe_command",
    ),
    "train": (
        "train a model from an experiment YAML into a run directory",
        arguments.add_train,
        "models:run_train",
    ),
    "upscale": (
        "apply trained run(s) to daily driver grids: NetCDF map, regional totals",
        arguments.add_upscale,
        "grids:run_upscale",
    ),
    "validate-upscaling": (
        "leave-sites-out validation of an experiment, towers predicted as map cells",
        arguments.add_validate_upscaling,
        "validate:run_validate_upscaling",
    ),
}


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    """``-v`` (debug messages) and ``-q`` (warnings only, no progress bars)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_const", const=logging.DEBUG, dest="log_level",
        default=default, help="also show debug messages",
    )  # fmt: skip
    group.add_argument(
        "-q", "--quiet", action="store_const", const=logging.WARNING, dest="log_level",
        default=default, help="show only warnings and errors (and no progress bars)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="fluxgrid",
        description="From flux towers and satellites to carbon-flux maps.",
    )
    parser.add_argument("--version", action="version", version=f"fluxgrid {__version__}")
    _add_verbosity(parser, logging.INFO)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add, target) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_verbosity(p, argparse.SUPPRESS)
        add(p)
        p.set_defaults(_target=target)
    return parser


def _runner(target: str) -> Callable[[argparse.Namespace], int]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (so redirections and captures apply)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _log_to_stderr(level: int) -> logging.Handler:
    """Show the ``fluxgrid`` logger's messages of ``level`` and above on stderr."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("fluxgrid")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fluxgrid`` command; returns the exit status.

    Messages of the library (the ``fluxgrid`` logger) go to stderr while the command runs:
    info and above by default, debug with ``-v``, warnings only with ``-q`` (which also
    turns the progress bars off). Results go to stdout.
    """
    args = build_parser().parse_args(argv)
    logger = logging.getLogger("fluxgrid")
    level_before, shown_before = logger.level, progress_setting()
    handler = _log_to_stderr(args.log_level)
    if args.log_level >= logging.WARNING:
        set_progress(False)
    try:
        return int(_runner(args._target)(args) or 0)
    except FluxgridError as err:
        print(f"fluxgrid {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; outputs already written are complete, nothing partial was left",
            file=sys.stderr,
        )
        return 130
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level_before)
        set_progress(shown_before)
