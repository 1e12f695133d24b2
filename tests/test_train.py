import json

import numpy as np
import pytest
import xarray as xr

from fluxgrid.cli import main
from fluxgrid.config import from_dict
from fluxgrid.config.experiment import ExperimentConfig, TrainConfig
from fluxgrid.errors import ConfigError, DataNotFoundError, ModelError, SplitError, WindowError
from fluxgrid.prep.splits import TEST, TRAIN, VAL
from fluxgrid.runs import load_run
from fluxgrid.testing import demo_experiment
from fluxgrid.training import (
    cross_site_transfer,
    fit_model,
    fit_torch,
    load_experiment,
    prepare,
    search,
    train_experiment,
)

torch = pytest.importorskip("torch")


_cfg = demo_experiment


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lstm"
    return train_experiment(_cfg(), output=out)


def test_run_directory_layout(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.yaml",
        "inputs.json",
        "scaler.json",
        "split.nc",
        "model.pt",
        "history.nc",
        "predictions.nc",
        "metrics.nc",
        "metrics.csv",
        "windows.nc",
        "qc_report.nc",
    } <= names
    inputs = json.loads((run_dir / "inputs.json").read_text())
    assert inputs["features"][:5] == ["ta", "sw_in", "vpd", "doy_sin", "doy_cos"]
    assert inputs["igbp_classes"] == ["DBF"]
    pred = xr.open_dataset(run_dir / "predictions.nc")
    assert pred.pred.dims == ("site", "time") and pred.pred.attrs["units"] == "gC m-2 d-1"
    assert {1, 2, 3} <= set(np.unique(pred.part.values).tolist())
    metrics = xr.open_dataset(run_dir / "metrics.nc")
    assert list(metrics.part.values) == ["train", "val", "test"]
    assert metrics.r2_by_site.dims == ("part", "site")
    # the saved config loads strictly and reproduces the experiment
    assert load_experiment(run_dir / "config.yaml") == _cfg()


def test_load_run_predicts_like_the_run(run_dir, demo_cube):
    run = load_run(run_dir, device="cpu")
    saved = xr.open_dataset(run_dir / "predictions.nc")
    cube = demo_cube.sel(site=["US-MMS", "DE-Hai"])
    again = run.predict(cube, split=run.split())
    np.testing.assert_allclose(again.pred.values, saved.pred.values, rtol=1e-5, atol=1e-5)
    # on another site (transfer) and with one driver permuted (importance)
    other = run.predict(demo_cube.sel(site=["DE-Tha"]))
    assert int(other.pred.notnull().sum()) > 1000
    shuffled = cube.copy(deep=True)
    rng = np.random.default_rng(0)
    shuffled["sw_in"].values[:] = shuffled.sw_in.values[:, rng.permutation(cube.sizes["time"])]
    perm = run.predict(shuffled)
    assert not np.allclose(perm.pred.values, again.pred.values, equal_nan=True)


def test_batch_predictor_on_raw_batches(run_dir, demo_cube):
    run = load_run(run_dir, device="cpu")
    cube = demo_cube.sel(site=["US-MMS"])
    wc = run.window_cube(cube)
    index = run.windows(cube)
    take = index.take(np.arange(100, 164))
    expected = run.predict_windows(wc, take)
    # build the same batch in physical units, as an upscaler would
    from fluxgrid.windows import input_features

    feats = input_features(
        cube,
        run.inputs["drivers"],
        static=run.inputs["static"],
        igbp_classes=run.inputs["igbp_classes"],
    )
    n_time = cube.sizes["time"]
    columns = []
    for name in run.features:  # one site: every input as a (time,) series in physical units
        da = feats[name]
        values = da.values[0] if da.dims == ("site", "time") else da.values
        columns.append(np.broadcast_to(values if "time" in da.dims else values[0], (n_time,)))
    series = np.stack(columns, axis=-1)
    raw = np.stack([series[e - 19 : e + 1] for e in take.end_idx])
    got = run.batch_predictor(device="cpu")(torch.as_tensor(raw, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ModelError, match="expected"):
        run.batch_predictor()(torch.zeros(2, 5, len(run.features)))


def test_no_test_leakage_into_scaling_or_early_stopping(demo_cube):
    """Tampering with test-part targets changes neither the scaler nor the training."""
    cfg = _cfg()
    a = prepare(cfg, cube=demo_cube)
    test = (a.split.part == TEST).values
    tampered = demo_cube.copy(deep=True)
    site_idx = [list(demo_cube.site.values).index(s) for s in a.cube.site.values]
    block = tampered.nee.values[site_idx]
    block[test] = block[test] * 100.0 + 50.0
    tampered.nee.values[site_idx] = block
    b = prepare(cfg, cube=tampered)
    assert a.scaler == b.scaler
    _, ha = fit_model(a)
    _, hb = fit_model(b)
    np.testing.assert_allclose(ha.train_loss, hb.train_loss, rtol=1e-6)
    np.testing.assert_allclose(ha.val_loss, hb.val_loss, rtol=1e-6)
    # early stopping refuses test windows outright
    from fluxgrid.models import get_model

    model = get_model("lstm")(a.wcube.n_dynamic + a.wcube.n_static, 20, hidden=4)
    with pytest.raises(SplitError, match="validation windows include parts \\['test'\\]"):
        fit_torch(model, a.wcube, a.part("train"), a.index.select(["val", "test"]), cfg.train)
    with pytest.raises(SplitError, match="training windows include parts"):
        fit_torch(model, a.wcube, a.index.select(["train", "test"]), None, cfg.train)
    assert set(a.part("val").part.tolist()) == {VAL} and set(a.part("train").part.tolist()) == {
        TRAIN
    }


def test_reproducible_with_seed(demo_cube):
    p = prepare(_cfg(), cube=demo_cube)
    _, h1 = fit_model(p)
    _, h2 = fit_model(p)
    np.testing.assert_array_equal(h1.train_loss, h2.train_loss)


def test_early_stopping_keeps_best_epoch(demo_cube):
    cfg = _cfg(train={"epochs": 6, "patience": 1, "lr": 0.05, "max_batches_per_epoch": 4})
    p = prepare(cfg, cube=demo_cube)
    model, h = fit_model(p)
    best = h.attrs["best_epoch"]
    assert float(h.val_loss.sel(epoch=best)) == float(h.val_loss.min())
    from fluxgrid.training.fit import Trainer

    trainer = Trainer(model, p.wcube, cfg.train)
    trainer.setup(p.part("train"), p.part("val"))
    now = trainer.validate(p.part("val"))["val_loss"]
    assert now == pytest.approx(float(h.val_loss.sel(epoch=best)), rel=1e-5)


def test_history_counts_the_windows_each_epoch_trained_on(demo_cube):
    """``windows`` is what the epoch fed the optimiser: all training windows, or the cap."""
    capped = prepare(
        _cfg(train={"epochs": 2, "batch_size": 32, "max_batches_per_epoch": 3}), cube=demo_cube
    )
    _, h = fit_model(capped)
    n_train = len(capped.part("train"))
    assert n_train > 3 * 32
    assert h["windows"].values.tolist() == [96.0, 96.0] and h.attrs["n_train"] == n_train
    full = prepare(_cfg(train={"epochs": 1, "batch_size": 512}), cube=demo_cube)
    _, h = fit_model(full)
    assert h["windows"].values.tolist() == [len(full.part("train"))]
    assert (h["seconds"] > 0).all()
    # off CUDA there is no GPU memory to report
    assert h.attrs["device"] != "cpu" or np.isnan(h.attrs["peak_gpu_memory_bytes"])


def test_without_validation_the_lowest_training_loss_epoch_is_kept(demo_cube):
    """What fit_torch's docstring promises: no validation -> the epoch of lowest training loss.

    The learning rate jumps before the last epoch, so that the last epoch is not the best
    one and keeping the last weights (or any other epoch's) fails here.
    """
    from fluxgrid.training.build import build_model
    from fluxgrid.training.fit import Trainer

    cfg = _cfg(
        data={"sites": ["US-MMS"]},
        split={"validation": "none"},
        windows={"lookback": 10, "static": ["doy"]},
        model={"name": "lstm", "params": {"hidden": 4}},
        train={"epochs": 3, "lr": 0.05, "batch_size": 64, "max_batches_per_epoch": 4},
    )
    p = prepare(cfg, cube=demo_cube)
    assert len(p.part("val")) == 0

    class Snapshots(Trainer):
        def end_epoch(self, epoch, record):
            self.states = getattr(self, "states", {})
            self.states[epoch] = {k: v.clone() for k, v in self.model.net.state_dict().items()}
            stop = super().end_epoch(epoch, record)
            if epoch == cfg.train.epochs - 1:  # overshoot in the last epoch
                for group in self.optimizer.param_groups:
                    group["lr"] = 50.0
            return stop

    model = build_model(cfg, p.wcube.n_dynamic + p.wcube.n_static)
    trainer = Snapshots(model, p.wcube, cfg.train)
    h = trainer.fit(p.part("train"), None)
    assert h.sizes["epoch"] == 3 and not h.attrs["stopped_early"]
    assert np.isnan(h.val_loss).all() and np.isnan(h.attrs["best_val_loss"])
    best = int(np.argmin(h.train_loss.values)) + 1
    assert h.attrs["best_epoch"] == best != 3
    kept = model.net.state_dict()
    for name, value in trainer.states[best].items():
        torch.testing.assert_close(kept[name], value, rtol=0, atol=0)
    assert any(not torch.equal(kept[k], v) for k, v in trainer.states[3].items())


@pytest.mark.parametrize(
    ("over", "error", "match"),
    [
        ({"model": {"name": "lstn", "params": {}}}, ModelError, "known models: fnn, gru, ilstm"),
        ({"model": {"name": "lstm", "params": {"hiden": 3}}}, ConfigError, "unknown parameter"),
        ({"windows": {"lookback": 5000}}, WindowError, "longer than the record"),
        ({"data": {"drivers": ["ta", "p"]}}, DataNotFoundError, r"\['p'\]"),
        (
            {
                "split": {
                    "method": "year_ranges",
                    "train_years": [1990, 1991],
                    "test_years": [2007, 2012],
                    "validation": "none",
                }
            },
            SplitError,
            "no valid 'nee' value for training",
        ),
    ],
)
def test_bad_input_fails_before_training(demo_cube, over, error, match):
    with pytest.raises(error, match=match):
        prepare(_cfg(**over), cube=demo_cube)


def test_unknown_config_key():
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        from_dict(ExperimentConfig, {"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match="'n_trials' is not read by method 'grid'"):
        from_dict(
            ExperimentConfig,
            {
                "search": {
                    "method": "grid",
                    "n_trials": 3,
                    "space": {"model.hidden": {"choices": [4]}},
                }
            },
        )


def test_driver_missing_at_a_site(demo_cube):
    cube = demo_cube.copy(deep=True)
    cube["vpd"].loc[{"site": "DE-Hai"}] = np.nan
    with pytest.raises(WindowError, match="DE-Hai"):
        prepare(_cfg(), cube=cube)


@pytest.mark.parametrize("method", ["grid", "random", "hyperband"])
def test_search(demo_cube, method):
    space = {"model.hidden": {"choices": [4, 8]}}
    search_cfg = {"method": method, "space": space}
    if method != "grid":
        space["train.lr"] = {"low": 1e-3, "high": 1e-2, "log": True}
        search_cfg["n_trials"] = 3
    if method == "hyperband":
        search_cfg["min_epochs"] = 1
    cfg = _cfg(search=search_cfg, train={"epochs": 3, "max_batches_per_epoch": 3})
    p = prepare(cfg, cube=demo_cube)
    table, best, model, history = search(p)
    assert table.sizes["trial"] == (2 if method == "grid" else 3)
    assert {"value", "state", "model.hidden"} <= set(table.data_vars)
    done = table.value.where(table.state == "COMPLETE")
    assert float(done.min()) == pytest.approx(float(history.val_loss.min()))
    assert model.params["hidden"] == best["model.hidden"]


def test_search_results_in_run_dir(demo_cube, tmp_path):
    cfg = _cfg(search={"method": "grid", "space": {"model.hidden": {"choices": [4, 8]}}})
    out = train_experiment(cfg, output=tmp_path / "s", cube=demo_cube)
    assert (out / "search.csv").is_file() and (out / "search.nc").is_file()
    saved = load_experiment(out / "config.yaml")
    assert saved.model.params["hidden"] in (4, 8)


def test_cross_site_transfer_dims_and_labels(demo_cube):
    cfg = _cfg(
        model={"name": "lasso", "params": {}},
        windows={"lookback": 20, "static": ["doy"]},
    )
    sites = ["US-MMS", "US-UMB", "DE-Hai"]
    matrix, preds, runs = cross_site_transfer(cfg, cube=demo_cube, sites=sites)
    assert matrix.r2.dims == ("train_site", "test_site")
    assert matrix.train_site.values.tolist() == sites == matrix.test_site.values.tolist()
    assert set(preds) == set(sites) and set(runs) == set(sites)
    assert (matrix.n > 0).all()
    # diagonal equals the in-site test score of the per-site model
    from fluxgrid.evaluate import scores

    own = scores(preds["US-UMB"].sel(site=["US-UMB"]), part="test")
    assert float(matrix.r2.sel(train_site="US-UMB", test_site="US-UMB")) == pytest.approx(
        float(own.r2)
    )


def test_cli_train_and_evaluate(tmp_path, capsys):
    import yaml

    from fluxgrid.config import to_dict

    cfg = to_dict(_cfg(model={"name": "rf", "params": {"n_estimators": 10, "n_jobs": 1}}))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"recipe": "train", "config": cfg}))
    assert main(["train", str(path), "-o", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "r2" in out
    assert main(["evaluate", str(tmp_path / "run"), "--by", "site", "year"]) == 0
    out = capsys.readouterr().out
    assert "test scores by year" in out and "US-MMS" in out
    assert main(["train", str(path), "-o", str(tmp_path / "run")]) == 2  # exists
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: demo, drivers: [ta], target: nee}\nmodel: {name: lstn}\n")
    assert main(["train", str(bad)]) == 2
    assert "known models" in capsys.readouterr().err


def test_recipe_file_is_a_valid_experiment():
    from pathlib import Path

    cfg = load_experiment(Path(__file__).parents[1] / "recipes" / "train.yaml")
    assert isinstance(cfg.train, TrainConfig) and cfg.model.name == "lstm"


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_lr_schedules(demo_cube, schedule):
    cfg = _cfg(
        train={
            "epochs": 5,
            "max_batches_per_epoch": 2,
            "lr": 0.01,
            "patience": 5,
            "lr_schedule": schedule,
            "lr_min_factor": 0.1,
        }
    )
    p = prepare(cfg, cube=demo_cube)
    _, h = fit_model(p)
    lr = h.lr.values
    assert lr[0] == pytest.approx(0.01) and h.attrs["lr_schedule"] == schedule
    assert (np.diff(lr) <= 1e-12).all() and lr.min() >= 0.001 - 1e-12
    if schedule == "cosine":
        assert lr[-1] < lr[0]
    else:  # halved only after the validation loss failed to improve for patience // 3 epochs
        worse = np.concatenate([[False], np.diff(np.minimum.accumulate(h.val_loss.values)) >= 0])
        assert (lr[1:] < lr[:-1]).sum() <= worse.sum()
    with pytest.raises(ConfigError, match="lr_min_factor"):
        from_dict(TrainConfig, {"lr_min_factor": 0.0})


def test_mixed_precision_paths_on_cpu(demo_cube):
    """float16 AMP is CUDA-only (off on CPU); bfloat16 autocast runs on CPUs that can.

    On a CPU without bfloat16 LSTM kernels (no AVX-512 BF16 / AMX) bfloat16 falls back to
    float32 with a warning, so this passes on any x86-64 CPU.
    """
    from fluxgrid.errors import FluxgridWarning
    from fluxgrid.tensors import resolve_device
    from fluxgrid.training.fit import cpu_bfloat16_lstm_ok

    p = prepare(_cfg(train={"device": "auto", "amp": True}), cube=demo_cube)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert p.wcube.device.type == expected == resolve_device("auto").type
    _, h16 = fit_model(p)
    assert h16.attrs["device"].startswith(expected)
    assert h16.attrs["amp"] == int(expected == "cuda")
    pb = prepare(
        _cfg(train={"device": "cpu", "amp": True, "amp_dtype": "bfloat16"}), cube=demo_cube
    )
    _, h32 = fit_model(prepare(_cfg(train={"device": "cpu", "amp": False}), cube=demo_cube))
    assert h32.attrs["amp"] == 0
    if not cpu_bfloat16_lstm_ok():
        with pytest.warns(FluxgridWarning, match="float32 instead"):
            _model, hb = fit_model(pb)
        assert hb.attrs["amp"] == 0 and hb.attrs["amp_dtype"] == "float32"
        np.testing.assert_array_equal(hb.train_loss, h32.train_loss)
        return
    _model, hb = fit_model(pb)
    assert hb.attrs["amp"] == 1 and hb.attrs["amp_dtype"] == "bfloat16"
    assert np.isfinite(hb.train_loss).all() and np.isfinite(hb.val_loss).all()
    # bfloat16 training follows float32 training closely (same seed, same batches)
    np.testing.assert_allclose(hb.train_loss, h32.train_loss, rtol=0.1)


def test_device_auto_picks_cuda_when_present(monkeypatch):
    from fluxgrid.tensors import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ModelError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.gpu
def test_float16_mixed_precision_on_gpu(demo_cube):
    p = prepare(_cfg(train={"device": "cuda", "amp": True}), cube=demo_cube)
    _, h = fit_model(p)
    assert h.attrs["amp"] == 1 and h.attrs["amp_dtype"] == "float16"
    assert np.isfinite(h.val_loss).all()
    assert h.attrs["device"].startswith("cuda") and h.attrs["peak_gpu_memory_bytes"] > 0


def test_search_records_diverged_trials_and_goes_on(demo_cube):
    cfg = _cfg(
        search={"method": "grid", "space": {"train.lr": {"choices": [1e30, 1e-3]}}},
        # MSE: the squared error of the overflowing outputs is infinite (MAE may stay finite)
        train={"epochs": 2, "max_batches_per_epoch": 3, "grad_clip": None, "loss": "mse"},
    )
    table, best, _model, _h = search(prepare(cfg, cube=demo_cube))
    states = dict(zip(table["train.lr"].values.tolist(), table.state.values.tolist(), strict=True))
    # one Adam step moves every weight by about lr: the outputs overflow float32
    assert states == {1e30: "DIVERGED", 1e-3: "COMPLETE"}
    assert best == {"train.lr": 1e-3}


def test_hyperband_budget_follows_searched_epochs():
    from fluxgrid.training.tuning import _max_epochs

    space = {"model.hidden": {"choices": [4]}}
    assert _max_epochs(_cfg(search={"method": "hyperband", "space": space})) == 2
    space = {**space, "train.epochs": {"choices": [3, 12]}}
    assert _max_epochs(_cfg(search={"method": "hyperband", "space": space})) == 12
    space = {"train.epochs": {"low": 2, "high": 9, "integer": True}}
    assert _max_epochs(_cfg(search={"method": "random", "space": space})) == 9


def test_cross_site_transfer_searches_per_site_on_validation(demo_cube):
    cfg = _cfg(
        model={"name": "lasso", "params": {}},
        windows={"lookback": 20, "static": ["doy"]},
        search={"method": "grid", "space": {"model.alpha": {"choices": [1e-3, 10.0]}}},
    )
    sites = ["US-MMS", "DE-Hai"]
    matrix, _preds, runs = cross_site_transfer(cfg, cube=demo_cube, sites=sites)
    for site in sites:
        table = runs[site].search_table
        assert table.sizes["trial"] == 2 and (table.state == "COMPLETE").all()
        chosen = table["model.alpha"].values[int(table.value.argmin())]
        assert runs[site].model.params["alpha"] == chosen == runs[site].config.model.params["alpha"]
    # alpha 10 zeroes every coefficient: the validation part must reject it
    assert all(r.model.params["alpha"] == 1e-3 for r in runs.values())
    assert matrix.r2.dims == ("train_site", "test_site")


def test_predict_parts_test_only_matches_the_full_run(run_dir, tmp_path):
    part_run = train_experiment(_cfg(), output=tmp_path / "test_only", predict_parts=["test"])
    full = xr.open_dataset(run_dir / "predictions.nc")
    only = xr.open_dataset(part_run / "predictions.nc")
    is_test = full.part.values == TEST
    np.testing.assert_allclose(only.pred.values[is_test], full.pred.values[is_test], rtol=1e-5)
    assert np.isfinite(only.pred.values[is_test]).any()
    assert np.isnan(only.pred.values[~is_test]).all()
    assert list(xr.open_dataset(part_run / "metrics.nc").part.values) == ["test"]
    with pytest.raises(ConfigError, match="predict_parts"):
        train_experiment(_cfg(), output=tmp_path / "bad", predict_parts=["tset"])
    assert not (tmp_path / "bad").exists()
