"""What every explanation method provides, and the registry the command line looks them up in.

One small class per method (as torchgeo has one sampler per sampling strategy), registered by
name with :func:`register_explainer`. A method holds its computation on a run and a site cube
(:meth:`Explainer.compute`), what of it is written (:meth:`Explainer.summarise`), its figure
(:meth:`Explainer.figure`) and the summary table printed by ``fluxgrid explain``
(:meth:`Explainer.table`); :meth:`Explainer.explain` runs them in that order.

Examples
--------
>>> from fluxgrid.explain import EXPLAINERS
>>> EXPLAINERS.names()
['attention', 'permutation', 'response', 'shap']
>>> EXPLAINERS.get("shapp")
Traceback (most recent call last):
...
fluxgrid.errors.ModelError: unknown explanation method 'shapp'; known explanation methods: ...
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import xarray as xr

from ..models.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..runs import TrainedRun

__all__ = ["EXPLAINERS", "ExplainOptions", "Explainer", "Explanation", "register_explainer"]

T = TypeVar("T")

#: explanation methods by name (``fluxgrid explain --method NAME``)
EXPLAINERS = Registry("explanation method")


def register_explainer(name: str) -> Callable[[T], T]:
    """Register an :class:`Explainer` subclass under ``name`` (``fluxgrid explain --method``)."""
    return EXPLAINERS.register(name)


@dataclasses.dataclass(frozen=True)
class ExplainOptions:
    """Settings of one explanation on a run (the options of ``fluxgrid explain``).

    Attributes
    ----------
    part
        Split part whose windows are explained (``"test"``).
    drivers
        Permutation: the drivers shuffled (``None``: the run's); response: the two drivers
        shifted (``None``: ``ta`` and ``sw_in``).
    metric
        Permutation metric (``"nrmse"``).
    n_repeats
        Permutation repeats.
    max_windows
        SHAP: windows explained.
    by
        Grouping of SHAP shares, attention and response surfaces (``"site"``, ``"igbp"``
        or ``None``).
    device
        Device of the tensors (``None``: the run's).
    """

    part: str = "test"
    drivers: Sequence[str] | None = None
    metric: str = "nrmse"
    n_repeats: int = 10
    max_windows: int | None = 1000
    by: str | None = "site"
    device: str | None = None


@dataclasses.dataclass
class Explanation:
    """One method's explanation of a run: the result written, its figure and summary table.

    Attributes
    ----------
    result
        Labelled result (written as ``<method>.nc``).
    figure
        :class:`matplotlib.figure.Figure` (written as ``<method>.png``).
    heading
        Line printed above ``table``.
    table
        Summary table printed by the command line.
    """

    result: xr.Dataset
    figure: Any
    heading: str
    table: pd.DataFrame


class Explainer(abc.ABC):
    """One explanation method: compute on a run, reduce, draw, tabulate.

    Subclasses set :attr:`name` and implement :meth:`compute`, :meth:`figure` and
    :meth:`table`; :meth:`summarise` defaults to the computed dataset itself.
    """

    #: registry name (``fluxgrid explain --method NAME``)
    name: ClassVar[str] = ""

    @abc.abstractmethod
    def compute(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """The method's computation on the windows of ``options.part`` of ``cube``."""

    def summarise(self, computed: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """What is written of ``computed`` (default: all of it)."""
        return computed

    @abc.abstractmethod
    def figure(self, computed: xr.Dataset, options: ExplainOptions) -> Any:
        """The figure of ``computed`` (a :class:`matplotlib.figure.Figure`)."""

    @abc.abstractmethod
    def table(self, result: xr.Dataset, options: ExplainOptions) -> tuple[str, pd.DataFrame]:
        """Heading and summary table of the (summarised) ``result``."""

    def explain(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> Explanation:
        """Compute, summarise, draw and tabulate; nothing is written."""
        computed = self.compute(run, cube, options)
        result = self.summarise(computed, options)
        fig = self.figure(computed, options)
        heading, table = self.table(result, options)
        return Explanation(result=result, figure=fig, heading=heading, table=table)
