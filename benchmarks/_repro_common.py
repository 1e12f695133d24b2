"""Helpers shared by the ``reproduce_*.py`` scripts: paths, site selection, tables, timing."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from fluxgrid.config import DataConfig, ExperimentConfig, load_config, to_dict
from fluxgrid.io.atomic import atomic_path
from fluxgrid.plots import new_figure, save_figure
from fluxgrid.prep.pipeline import load_data

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
FIGURES = RESULTS / "figures"
DATA = RESULTS / "data"
HH = ROOT.parent / "shared" / "data" / "fluxnet2015" / "hh.zarr"
MM = ROOT.parent / "shared" / "data" / "fluxnet2015" / "mm"
SITES_CSV = ROOT.parent / "shared" / "data" / "fluxnet2015" / "sites.csv"

#: the drivers of the daily reproductions
DRIVERS = ("ta", "sw_in", "vpd")
#: the split of the many-site reproductions: each site's last 20 % of days tested, the 20 %
#: of training days before them validated
TAIL_SPLIT = {"method": "temporal", "test_fraction": 0.2, "validation": "tail", "val_fraction": 0.2}
#: the credit of the flux data every page ends with
FLUXNET2015 = "FLUXNET2015 (CC-BY-4.0; Pastorello et al. 2020, Sci Data 7, 225)"


def script_parser(
    doc: str,
    *,
    threads: int,
    quick: str | None = None,
    models: Sequence[str] | None = None,
    seeds: int | None = None,
    reuse: bool = False,
) -> argparse.ArgumentParser:
    """A script's parser (its docstring's first line) with the options its kind shares.

    Always ``--threads``; ``--quick`` (a smoke run, described by ``quick``), ``--models``
    (choices and default: ``models``), ``--seeds`` (default ``seeds``) and ``--reuse`` where
    asked for.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    if quick:
        parser.add_argument("--quick", action="store_true", help=f"smoke run ({quick})")
    if models is not None:
        parser.add_argument("--models", nargs="+", default=list(models), choices=list(models))
    if seeds is not None:
        parser.add_argument(
            "--seeds",
            type=int,
            default=seeds,
            help="members of the seed ensembles (seeds 0..N-1, seed 0 is the single model; "
            "1: single models only)",
        )
    if reuse:
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="keep what an earlier run of this script trained with the same configuration "
            "(in runs/<script>), train only what changed",
        )
    return parser


def model_settings(
    models: dict[str, tuple[dict, dict]], name: str, *, quick: bool, batches: int
) -> tuple[dict, dict]:
    """``(params, train)`` of ``models[name]``, copied.

    A smoke run (``quick``) trains 1 epoch of ``batches`` batches and fits SVR and RF on
    2,000 windows.
    """
    params, train = models[name]
    if not quick:
        return dict(params), dict(train)
    if name in ("svr", "rf"):
        params = {**params, "max_train_samples": 2000}
    return dict(params), {**train, "epochs": 1, "max_batches_per_epoch": batches}


def start(args: argparse.Namespace) -> Timer:
    """Set the torch threads of ``args.threads``, create the output folders; a new timer."""
    torch.set_num_threads(args.threads)
    ensure_dirs()
    return Timer()


def nee_data(
    source: Path, sites: Sequence[str], drivers: Sequence[str] = DRIVERS, **extra: object
) -> dict:
    """The ``data`` section of a reproduction's experiment: NEE at ``sites``, QC >= 0.7."""
    return {
        "source": str(source),
        "sites": list(sites),
        "drivers": list(drivers),
        "target": "nee",
        "qc_threshold": 0.7,
        **extra,
    }


def long_record_cube(
    data: DataConfig,
    keep: Callable[[xr.DataArray], xr.DataArray],
    *,
    limit: int | None = None,
) -> tuple[xr.Dataset, list[str]]:
    """The cube of the sites of ``data.source`` whose record of valid daily NEE ``keep`` accepts.

    ``data`` is loaded for every site of its source (daily, QC as it says); ``keep`` maps the
    years of valid NEE per site (dims: site; valid days / 365.25) to a boolean mask, e.g.
    ``lambda years: years > 5``; ``limit`` keeps only the first sites (smoke runs).
    Returns the cube of the kept sites and their names, in the source's order.
    """
    cube, _ = load_data(dataclasses.replace(data, sites=None))
    years = cube.nee.notnull().sum("time") / 365.25
    sites = cube.site.values[keep(years).values].astype(str).tolist()
    if limit is not None:
        sites = sites[:limit]
    return cube.sel(site=sites), sites


def same_run(run_dir: Path, cfg: ExperimentConfig) -> bool:
    """The finished run in ``run_dir`` was trained with ``cfg`` (and has its predictions)."""
    if not (run_dir / "predictions.nc").is_file():
        return False
    return to_dict(load_config(run_dir / "config.yaml", ExperimentConfig)) == to_dict(cfg)


def same_folds(folder: Path, cfg: ExperimentConfig, n_folds: int) -> bool:
    """The spatial validation in ``folder`` has ``n_folds`` fold runs trained with ``cfg``.

    Every section but the split is compared (each fold's split is its own).
    """
    runs = [folder / "folds" / f"fold{k}" / "config.yaml" for k in range(n_folds)]
    if not (folder / "predictions.nc").is_file() or not all(r.is_file() for r in runs):
        return False
    saved, ours = to_dict(load_config(runs[0], ExperimentConfig)), to_dict(cfg)
    return all(
        saved.get(k) == ours.get(k) for k in ("data", "windows", "model", "train", "ensemble")
    )


def site_summary(per_site: pd.DataFrame) -> pd.DataFrame:
    """Per model, of per-site R2 (sites x models): median, sites below 0, sites where best."""
    summary = pd.DataFrame(
        {
            "median site R2": per_site.median(),
            "sites with R2 < 0": (per_site < 0).sum(),
            "sites where best": per_site.idxmax(axis=1).value_counts(),
        }
    ).fillna(0)
    summary.index.name = "model"
    return summary


INT_COLUMNS = ("n", "sites", "sites where best", "months", "windows", "train", "val", "test")


def md_table(
    frame: pd.DataFrame,
    *,
    floats: str = "{:.3f}",
    index: bool = True,
    ints: tuple[str, ...] = INT_COLUMNS,
) -> str:
    """A DataFrame as a GitHub Markdown table (NaN shown as a dash, count columns as ints)."""
    cols = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in frame.iterrows():
        cells = [str(idx)] if index else []
        for col, v in zip(frame.columns, row.values, strict=True):
            if isinstance(v, float | np.floating | int | np.integer) and not isinstance(v, bool):
                if not np.isfinite(v):
                    cells.append("-")
                elif str(col) in ints or str(col).split()[-1] in ints:
                    cells.append(f"{round(float(v))}")
                else:
                    cells.append(floats.format(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_text(path: Path, text: str) -> Path:
    """Write a results page atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def work_dir(name: str, quick: bool) -> Path:
    """The runs folder of a script: ``runs/<name>``, or ``runs/<name>_quick`` for a smoke run.

    A smoke run never replaces the runs that a full run reuses (``--reuse``).
    """
    return ROOT / "runs" / (f"{name}_quick" if quick else name)


def publish(text: str, name: str, work: Path, quick: bool) -> Path:
    """Write a page as ``docs/results/<name>`` (a smoke run: ``<work>/quick.md``) and say so."""
    page = work / "quick.md" if quick else RESULTS / name
    write_text(page, text)
    print(f"wrote {page}")
    return page


def data_credit(sites: Sequence[str] = (), other: str = "") -> str:
    """The closing line of a page: the flux data's credit, its sites and ``other`` sources."""
    line = f"Data: {FLUXNET2015}"
    if len(sites):
        line += ", sites " + ", ".join(sites)
    return line + (f"; {other}" if other else "") + "."


def closing_lines(
    timer: Timer, sites: Sequence[str], reused: Sequence[str] = (), other: str = ""
) -> str:
    """A page's last lines: the timings table, what ``--reuse`` kept and the data credit."""
    kept = (
        "\nResults of an earlier run of this script with the same configuration, reused "
        f"(`--reuse`): {'; '.join(reused)}.\n"
        if len(reused)
        else ""
    )
    return f"{timer.table()}\n{kept}\n{data_credit(sites, other)}\n"


def metric_bars(
    table: pd.DataFrame,
    metrics: Sequence[str],
    title: str,
    path: Path,
    *,
    highlight: str | None = None,
    size: tuple[float, float] = (9.0, 3.2),
) -> None:
    """One bar panel per metric (rows of ``table``: models); ``highlight`` models in red."""
    fig = new_figure(size)
    colours = [
        "tab:red" if highlight and str(m).startswith(highlight) else "tab:gray" for m in table.index
    ]
    for ax, metric in zip(np.atleast_1d(fig.subplots(1, len(metrics))), metrics, strict=True):
        ax.bar(table.index, table[metric], color=colours)
        ax.set_title(metric.upper() if metric != "r2" else "R2")
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(title)
    save_figure(fig, path, overwrite=True)


def machine() -> str:
    """One line describing where the script ran."""
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return (
        f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} torch threads, "
        f"{dev}, torch {torch.__version__}"
    )


class Timer:
    """Wall-clock seconds of named steps."""

    def __init__(self):
        self.steps: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t = time.perf_counter()
                print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)

            def __exit__(self, *exc):
                timer.steps[name] = time.perf_counter() - self.t
                print(
                    f"[{time.strftime('%H:%M:%S')}] {name}: {timer.steps[name]:.0f} s", flush=True
                )

        return _Ctx()

    def table(self) -> str:
        frame = pd.DataFrame({"seconds": pd.Series(self.steps)})
        frame.index.name = "step"
        return md_table(frame, floats="{:.0f}")


def rel(path: Path) -> str:
    """Path relative to docs/results (for Markdown links)."""
    return str(Path(path).relative_to(RESULTS))


def ensure_dirs(*paths: Sequence[Path]) -> None:
    for p in (FIGURES, DATA, *paths):
        Path(p).mkdir(parents=True, exist_ok=True)
