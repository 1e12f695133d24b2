"""``fluxgrid demo`` and ``fluxgrid run``: the demo and recipes on a Dask cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..demo import run_demo as demo
from ..recipe import run_recipe

__all__ = ["run_demo", "run_recipe_command"]


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo into ``args.output`` and list its outputs."""
    paths = demo(Path(args.output))
    print("outputs:")
    for name, path in paths.items():
        print(f"    {name}: {path}")
    return 0


def run_recipe_command(args: argparse.Namespace) -> int:
    """Run a recipe YAML and list its outputs.

    The output folder is locked for the run (a second ``fluxgrid run`` into it is refused);
    a re-run whose config differs from the one that made the folder's outputs is refused
    naming the changed keys, unless ``--overwrite`` (see :mod:`fluxgrid.recipe`).
    """
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
