"""``fluxgrid explain``: permutation importance, SHAP, attention, response surfaces of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from ..io.atomic import check_writable
from ..io.store import to_netcdf
from ..plots import (
    plot_attention,
    plot_importance,
    plot_response_surface,
    plot_shap_summary,
    save_figure,
)
from ..runs import load_run

__all__ = ["run_explain"]


def run_explain(args: argparse.Namespace) -> int:
    """Explain a run directory with one method; write ``<method>.nc`` and ``.png``."""
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
        from ..explain import permutation_importance

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
        from ..explain import relative_contribution, shap_values

        result = shap_values(run, cube, args.part, max_windows=args.max_windows, device=args.device)
        fig = plot_shap_summary(result, by=by)
        table = relative_contribution(result, by=by).to_pandas()
        print(f"relative contribution (%, {result.attrs['method']}, {args.part} windows):")
    elif args.method == "attention":
        from ..explain import attention_summary, label_igbp

        att = label_igbp(run.attention(cube, part=args.part), cube)
        result = attention_summary(att, by=by)
        fig = plot_attention(att)
        table = result.beta.to_pandas()
        print(f"mean variable attention beta ({args.part} windows):")
    else:
        from ..explain import response_surface

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
