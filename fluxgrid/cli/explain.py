"""``fluxgrid explain``: permutation importance, SHAP, attention, response surfaces of a run.

The method is looked up by name in :data:`fluxgrid.explain.EXPLAINERS`; it computes, draws
and tabulates, and this command prints the table and writes ``<method>.nc`` and ``.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..explain import EXPLAINERS, ExplainOptions
from ..io.atomic import check_writable
from ..io.store import to_netcdf
from ..plots import save_figure
from ..runs import load_run

__all__ = ["run_explain"]


def _options(args: argparse.Namespace) -> ExplainOptions:
    """The method settings from the command's options."""
    return ExplainOptions(
        part=args.part,
        drivers=args.drivers,
        metric=args.metric,
        n_repeats=args.n_repeats,
        max_windows=args.max_windows,
        by=None if args.by == "none" else args.by,
        device=args.device,
    )


def run_explain(args: argparse.Namespace) -> int:
    """Explain a run directory with one method; write ``<method>.nc`` and ``.png``."""
    explainer = EXPLAINERS.get(args.method)()
    run = load_run(args.run_dir, device=args.device or "auto")
    if "scale" in run.inputs:
        raise ConfigError(
            f"{args.run_dir} was trained on {run.inputs['scale']} SSA components, not on the "
            "raw cube; explain it in Python on ScaleData.scale_cube(...) (see "
            "fluxgrid.studies.guided.GuidedResult.contributions)"
        )
    out = Path(args.output) if args.output else Path(args.run_dir) / "explain"
    nc = check_writable(out / f"{args.method}.nc", args.overwrite)
    png = check_writable(out / f"{args.method}.png", args.overwrite)
    explanation = explainer.explain(run, run.load_cube(), _options(args))
    print(explanation.heading)
    print(explanation.table.to_string(float_format=lambda v: f"{v:.3f}"))
    out.mkdir(parents=True, exist_ok=True)
    to_netcdf(explanation.result, nc, overwrite=args.overwrite)
    save_figure(explanation.figure, png, overwrite=args.overwrite)
    print(f"wrote {nc} and {png}")
    return 0
