"""``fluxgrid train`` and ``fluxgrid evaluate``: run directories and their scores."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..evaluate import METRICS, evaluate_run
from ..runs import ensemble_members, is_ensemble
from ..training import load_experiment, train_experiment
from ..training.ensemble import member_spread

__all__ = ["run_evaluate", "run_train"]


def run_train(args: argparse.Namespace) -> int:
    """Train an experiment YAML into a run directory and print its pooled scores.

    An ensemble (``ensemble: {seeds: [...]}``) prints the scores of the member mean and
    the spread of the members' scores (mean, sd, min, max over seeds).
    """
    cfg = load_experiment(args.config)
    if args.device:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=args.device))
    run_dir = train_experiment(cfg, output=args.output, overwrite=args.overwrite)
    if is_ensemble(run_dir):
        _print_ensemble(run_dir)
    else:
        _print_pooled(run_dir / "metrics.csv", METRICS)
    print(f"run directory: {run_dir}")
    return 0


def _print_ensemble(run_dir: Path) -> None:
    members = ensemble_members(run_dir)
    print(f"ensemble of {len(members)} members, scores of the member mean:")
    _print_pooled(run_dir / "metrics.csv", METRICS)
    spread = member_spread(pd.read_csv(run_dir / "members.csv", index_col=[0, 1]))
    print(f"\nspread of the {len(members)} members' scores (over seeds):")
    print(spread.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"members: {run_dir / 'members'}")


def _print_pooled(path: Path, metrics: Sequence[str]) -> None:
    table = pd.read_csv(path, index_col=0)
    print(table[[m for m in metrics if m in table]].to_string(float_format=lambda v: f"{v:.3f}"))


def run_evaluate(args: argparse.Namespace) -> int:
    """Score a run directory and print pooled and grouped scores."""
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
