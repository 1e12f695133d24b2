"""neuralhydrology on a fluxgrid site cube: write its GenericDataset and run YAML, read its test.

Shared by ``bench_peers.py`` (speed) and ``reproduce_defaults.py`` (accuracy), so that both
give neuralhydrology exactly the same days, drivers, sizes and optimiser.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr


def write_nh_run(
    ds: xr.Dataset,
    root: Path,
    setup: dict,
    *,
    drivers: Sequence[str],
    target: str,
    seq: int,
    loss: str = "MSE",
    lr: float = 1e-3,
) -> Path:
    """Write ``ds`` as a neuralhydrology GenericDataset plus a run YAML; return the YAML.

    ``root/data/time_series/<site>.nc`` (dim ``date``: the drivers and the QC'd target),
    one basin file for all periods, and a run configuration with ``setup``'s years
    (``train``, ``test``: ``(first, last)``), ``hidden``, ``epochs`` and ``seed`` (default 0);
    no validation epochs (as fluxgrid's speed benchmark), batch 256, gradient clipping 1.
    """
    import yaml

    series = root / "data" / "time_series"
    series.mkdir(parents=True)
    sites = [str(s) for s in ds.site.values]
    for site in sites:
        one = ds[[*drivers, target]].sel(site=site, drop=True)
        one = one.drop_vars([c for c in one.coords if c != "time"]).rename(time="date")
        one.astype("float32").to_netcdf(series / f"{site}.nc")
    basins = root / "basins.txt"
    basins.write_text("\n".join(sites) + "\n")
    (a, b), (c, d) = setup["train"], setup["test"]
    run = {
        "experiment_name": f"fluxgrid_seed{setup.get('seed', 0)}",
        "run_dir": str(root / "runs"),
        "train_basin_file": str(basins),
        "validation_basin_file": str(basins),
        "test_basin_file": str(basins),
        "train_start_date": f"01/01/{a}",
        "train_end_date": f"31/12/{b}",
        "validation_start_date": f"01/01/{c}",  # not used: no validation epochs
        "validation_end_date": f"31/12/{d}",
        "test_start_date": f"01/01/{c}",
        "test_end_date": f"31/12/{d}",
        "device": "cpu",
        "validate_every": None,
        "model": "cudalstm",
        "head": "regression",
        "output_activation": "linear",
        "hidden_size": setup["hidden"],
        "initial_forget_bias": 1.0,
        "output_dropout": 0.0,
        "optimizer": "Adam",
        "loss": loss,
        "learning_rate": lr,
        "batch_size": 256,
        "epochs": setup["epochs"],
        "clip_gradient_norm": 1.0,
        "predict_last_n": 1,
        "seq_length": seq,
        "num_workers": 0,
        "log_interval": 1000,
        "log_tensorboard": False,
        "save_weights_every": setup["epochs"],
        "save_validation_results": False,
        "verbose": 0,
        "dataset": "generic",
        "data_dir": str(root / "data"),
        "dynamic_inputs": list(drivers),
        "target_variables": [target],
        "seed": setup.get("seed", 0),
    }
    path = root / "run.yml"
    path.write_text(yaml.safe_dump(run))
    return path


def nh_test_predictions(run_dir: Path, ds: xr.Dataset, *, target: str) -> xr.DataArray:
    """Test predictions of neuralhydrology's ``eval_run``, on ``ds``'s ``(site, time)``."""
    from neuralhydrology.nh_run import eval_run

    eval_run(run_dir, period="test")
    (path,) = run_dir.glob("test/model_epoch*/test_results.p")
    with open(path, "rb") as f:
        results = pickle.load(f)
    pred = xr.full_like(ds[target], np.nan, dtype="float64")
    for i, site in enumerate(ds.site.values):
        out = results[str(site)]["1D"]["xr"][f"{target}_sim"].isel(time_step=-1)
        days = pd.DatetimeIndex(out["date"].values)
        pos = ds.indexes["time"].get_indexer(days)
        pred[i, pos[pos >= 0]] = out.values[pos >= 0]
    return pred
