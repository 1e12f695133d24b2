"""``fluxgrid validate-upscaling``: leave-sites-out validation through the upscaling kernel."""

from __future__ import annotations

import argparse
import dataclasses

from ..training.build import load_experiment
from ..upscale.validation import validate_upscaling

__all__ = ["run_validate_upscaling"]


def run_validate_upscaling(args: argparse.Namespace) -> int:
    """Train one model per site fold, predict the held-out towers, print and write scores."""
    cfg = load_experiment(args.config)
    if args.device:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=args.device))
    result = validate_upscaling(
        cfg, output=args.output, n_folds=args.folds, seed=args.seed, overwrite=args.overwrite
    )
    columns = ["r2", "rmse", "mae", "n"]
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    print(f"held-out towers, pooled ({cfg.data.target}):")
    print(result.scores("pooled")[columns].to_string(**fmt))
    if result.members:  # seed ensembles: the mean above, each member alone here
        members = result.member_scores().rename(index=lambda seed: f"seed {seed}")
        print(f"\neach of the {len(members)} members alone, pooled:")
        print(members[columns].to_string(**fmt))
    print("\nper IGBP class:")
    print(result.scores("igbp")[columns].to_string(**fmt))
    print(f"\nwrote {result.folder} (predictions.nc, scores_*.csv, folds/)")
    return 0
