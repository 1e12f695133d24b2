"""Figure creation and saving, shared by every plot.

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state, no GUI backend
needed, safe in worker threads); matplotlib is imported on first use. A plot that draws one
panel takes ``ax=`` (:func:`figure_axes`), and every plot ends with :func:`finish_figure`
(or :func:`finish_axes`, which labels the panel first), which saves it when a ``path`` is
given and returns it. The parameters every plot shares (``ax``, ``path``, ``overwrite``,
``title``) are documented once, in :data:`FIGURE_DOCS`.

Examples
--------
>>> fig, ax = figure_axes(None, (4.0, 3.0))                # doctest: +SKIP
>>> save_figure(fig, "empty.png", overwrite=True)          # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._lazy import lazy_import
from ..io.atomic import atomic_path, check_writable

__all__ = [
    "FIGURE_DOCS",
    "annotate_cells",
    "figure_axes",
    "finish_axes",
    "finish_figure",
    "new_figure",
    "save_figure",
]

#: numpydoc entries of the parameters every plot shares, filled into the plots' docstrings
#: by :func:`fluxgrid._docstring.fill_doc`
FIGURE_DOCS = {
    "ax": """ax
    Axes to draw into (default: a new figure).""",
    "path": """path, overwrite
    Save the figure there (PNG, PDF or SVG by suffix, see :func:`~fluxgrid.plots.save_figure`);
    an existing file is replaced only with ``overwrite``.""",
    "title": """title
    Title of the figure (default: one naming what is drawn).""",
}
#: ``path, overwrite`` and ``title`` in one entry (the plots that take both)
FIGURE_DOCS["output"] = f"{FIGURE_DOCS['path']}\n{FIGURE_DOCS['title']}"


def new_figure(figsize: tuple[float, float]) -> Any:
    """A new constrained-layout :class:`matplotlib.figure.Figure` of ``figsize`` inches.

    Raises
    ------
    OptionalDependencyError
        Without matplotlib (the message says how to install it).
    """
    lazy_import("matplotlib")  # an install hint instead of a bare ImportError
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def figure_axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """``(figure, axes)`` to draw one panel into: ``ax`` and its figure, or a new figure's."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


def save_figure(
    fig: Any, path: str | os.PathLike, *, overwrite: bool = False, dpi: int = 150
) -> Path:
    """Save ``fig`` (PNG, PDF or SVG by suffix) atomically; refuse an existing file.

    Examples
    --------
    >>> save_figure(fig, "map.png", overwrite=True)  # doctest: +SKIP
    """
    path = check_writable(path, overwrite)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path


def finish_figure(fig: Any, path: str | os.PathLike | None, overwrite: bool = False) -> Any:
    """Save ``fig`` to ``path`` when one is given (see :func:`save_figure`); return ``fig``."""
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def finish_axes(
    ax: Any,
    path: str | os.PathLike | None,
    overwrite: bool,
    *,
    title: str,
    xlabel: str | None = None,
    ylabel: str | None = None,
    legend: dict[str, Any] | None = None,
) -> Any:
    """Label one panel, title it and finish its figure (see :func:`finish_figure`).

    Parameters
    ----------
    ax
        The panel.
    path, overwrite
        As for :func:`finish_figure`.
    title
        Axes title.
    xlabel, ylabel
        Axis labels (``None``: left as they are).
    legend
        :meth:`matplotlib.axes.Axes.legend` settings (``{}``: the defaults); ``None``: no
        legend.

    Returns
    -------
    matplotlib.figure.Figure
        The panel's figure.
    """
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if legend is not None:
        ax.legend(**legend)
    ax.set_title(title)
    return finish_figure(ax.figure, path, overwrite)


def annotate_cells(ax: Any, labels: Any, white: Any, **text: Any) -> None:
    """Write ``labels[i][j]`` at the centre of each heatmap cell (``None``: nothing).

    Parameters
    ----------
    ax
        Axes holding an ``imshow`` of the cells (row ``i`` at ``y = i``).
    labels
        Texts per cell, ``(row, column)``.
    white
        Booleans per cell: white text (on dark cells), else black.
    **text
        Further :meth:`matplotlib.axes.Axes.text` settings (``fontsize``).
    """
    for i, row in enumerate(labels):
        for j, label in enumerate(row):
            if label is not None:
                colour = "w" if white[i][j] else "k"
                ax.text(j, i, label, ha="center", va="center", color=colour, **text)
