"""Template: a new explanation method (here: gradient x input saliency per input).

Copy this file to ``fluxgrid/explain/<name>.py`` and import it in
``fluxgrid/explain/__init__.py`` (the import registers it). Then ``fluxgrid explain RUN_DIR
--method saliency`` computes it, writes ``saliency.nc`` and ``saliency.png`` and prints its
table, with no other wiring.

An explanation method is one small class (see :class:`fluxgrid.explain.base.Explainer`):

* ``compute(run, cube, options)``: the labelled result (named dims, ``units`` in attrs) on
  the windows of ``options.part``; use the run's own window index and scaled tensors
  (:meth:`TrainedRun.windows <fluxgrid.runs.TrainedRun.windows>`,
  :meth:`TrainedRun.window_cube <fluxgrid.runs.TrainedRun.window_cube>`), batch by batch;
* ``figure(computed, options)``: a matplotlib figure (import matplotlib inside);
* ``table(result, options)``: a heading and a :class:`pandas.DataFrame` for the terminal;
* what it needs of the model it asks the model class for (here ``shap_method ==
  "gradient"``: a differentiable torch network), never the model's name.

Examples
--------
>>> from fluxgrid.explain import EXPLAINERS, ExplainOptions
>>> explainer = EXPLAINERS.get("saliency")()                      # doctest: +SKIP
>>> result = explainer.explain(run, cube, ExplainOptions()).result  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fluxgrid.errors import ModelError
from fluxgrid.explain.base import Explainer, ExplainOptions, register_explainer
from fluxgrid.runs import TrainedRun


@register_explainer("saliency")
class SaliencyExplainer(Explainer):
    """Mean absolute gradient x input of each input, over the windows of a split part."""

    name = "saliency"

    def compute(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """Gradient x input (scaled units) summed over the window, averaged over windows."""
        model = run.model
        if model.shap_method != "gradient":  # a capability the model class declares
            raise ModelError(
                f"saliency needs gradients; model {model.name!r} is not a torch network "
                "(use --method permutation)"
            )
        split = run.split().sel(site=cube.site.values)
        index = run.windows(cube, split=split, require_target=True).select(options.part)
        tensors = run.window_cube(cube, device=options.device)
        total = np.zeros(len(run.features))
        for x, _y, _pos in tensors.batches(index, 512, shuffle=False):
            x = x.detach().clone().requires_grad_(True)
            with model.explain_mode() as net:
                net(x).sum().backward()
            total += (x.grad * x).abs().sum(dim=1).sum(dim=0).detach().cpu().numpy()
        saliency = total / max(len(index), 1)
        return xr.Dataset(
            {"saliency": ("feature", saliency, {"units": "1", "long_name": "mean |grad x input|"})},
            coords={"feature": run.features},
            attrs={"part": options.part, "n_windows": len(index), "model": model.name},
        )

    def figure(self, computed: xr.Dataset, options: ExplainOptions) -> Any:
        """Horizontal bars, largest on top."""
        import matplotlib.pyplot as plt

        order = computed.saliency.to_series().sort_values()
        fig, ax = plt.subplots(figsize=(5, 0.4 * len(order) + 1), layout="constrained")
        ax.barh(order.index, order.values)
        ax.set_xlabel("mean |gradient x input| (scaled units)")
        ax.set_title(f"saliency, {computed.attrs['n_windows']} {options.part} windows")
        return fig

    def table(self, result: xr.Dataset, options: ExplainOptions) -> tuple[str, pd.DataFrame]:
        """Saliency per input, largest first."""
        table = result.saliency.to_series().sort_values(ascending=False).to_frame()
        return f"gradient x input saliency ({options.part} windows):", table
