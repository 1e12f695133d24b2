"""Explanations on models trained on real FLUXNET2015 sites (bundled demo cube).

The cube gains one extra input column, ``noise``: seeded standard-normal values that the
tests declare as noise (no flux data is altered or made up). A model trained with it has no
information to take from it, so its importance must be about zero.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fluxgrid.config import from_dict
from fluxgrid.config.experiment import ExperimentConfig
from fluxgrid.errors import DataNotFoundError, ModelError
from fluxgrid.evaluate import metrics
from fluxgrid.explain import (
    EXPLAINERS,
    attention_summary,
    default_groups,
    permutation_importance,
    relative_contribution,
    resolve_target,
    response_surface,
    shap_algorithm,
    shap_values,
)
from fluxgrid.explain.permutation import within_site_permutation
from fluxgrid.models import MODELS
from fluxgrid.prep.pipeline import load_data
from fluxgrid.runs import TrainedRun
from fluxgrid.training import fit_model, prepare_from_cube

torch = pytest.importorskip("torch")
SITES = ["US-MMS", "DE-Hai"]
DRIVERS = ["ta", "sw_in", "vpd", "noise"]


def _with_noise(cube: xr.Dataset) -> xr.Dataset:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(cube.sizes["site"], cube.sizes["time"])).astype(np.float32)
    return cube.assign(noise=(("site", "time"), values, {"units": "1", "long_name": "noise"}))


def _train(name: str, params: dict, train: dict | None = None, static=("doy",), lookback=30):
    from fluxgrid.testing import load_demo_cube

    torch.manual_seed(0)
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "sites": SITES, "drivers": DRIVERS},
            "split": {"method": "temporal", "test_fraction": 0.2, "validation": "tail"},
            "windows": {"lookback": lookback, "static": list(static)},
            "model": {"name": name, "params": params},
            "train": {"device": "cpu", "batch_size": 128, "seed": 0, **(train or {})},
        },
    )
    ds, _ = load_data(cfg.data, cube=_with_noise(load_demo_cube()))
    prepared = prepare_from_cube(cfg, ds)
    model, _history = fit_model(prepared, progress=False)
    return TrainedRun.from_prepared(prepared, model), ds


@pytest.fixture(scope="module")
def lstm_run():
    return _train("lstm", {"hidden": 16}, {"epochs": 4, "max_batches_per_epoch": 40, "lr": 5e-3})


@pytest.fixture(scope="module")
def lasso_run():
    return _train("lasso", {"alpha": 0.01})


# --------------------------------------------------------------------------- permutation
def test_permutation_noise_is_zero_and_radiation_dominates(lstm_run):
    run, ds = lstm_run
    imp = permutation_importance(run, ds, "test", n_repeats=5, seed=1)
    assert imp.importance.dims == ("driver", "site")
    assert imp.score.dims == ("repeat", "driver", "site")
    assert imp.driver.values.tolist() == DRIVERS
    pooled = imp.importance_pooled.to_series()
    dominant = max(pooled["ta"], pooled["sw_in"])
    # the dominant driver clearly matters, well beyond the spread over repeats
    assert dominant > 0.01
    top = pooled[["ta", "sw_in"]].idxmax()
    assert dominant > 5 * float(imp.importance_pooled_std.sel(driver=top))
    # the declared-noise input carries nothing
    assert abs(pooled["noise"]) < 0.05 * dominant
    per_site = imp.importance.sel(driver="noise")
    assert (abs(per_site) < 0.1 * imp.importance.sel(driver=["ta", "sw_in"]).max("driver")).all()
    assert imp.attrs["metric"] == "nrmse" and imp.attrs["n_repeats"] == 5


def test_permutation_equals_brute_force_per_window(lasso_run):
    """One repeat rebuilt window by window (no stacking, no batching) gives the same scores."""
    run, ds = lasso_run
    imp = permutation_importance(run, ds, "test", n_repeats=2, seed=3, metric="rmse")
    target = resolve_target(run, ds, "test")
    index, cube = target.index, target.cube
    rng = np.random.default_rng(3)
    perm = within_site_permutation(index.site_idx, rng, "site")
    assert (index.site_idx[perm] == index.site_idx).all()  # partners come from the same site
    col = target.features.index("vpd")
    preds = np.empty(len(index))
    obs = np.empty(len(index))
    for i in range(len(index)):
        x, y = cube.gather(index.site_idx[[i]], index.end_idx[[i]], index.lookback)
        xp, _ = cube.gather(index.site_idx[[perm[i]]], index.end_idx[[perm[i]]], index.lookback)
        x[..., col] = xp[..., col]
        preds[i] = float(run.model.predict_batch(x)[0])
        obs[i] = float(y[0])
    o = xr.DataArray(target.to_target_units(obs), dims="sample")
    p = xr.DataArray(target.to_target_units(preds), dims="sample")
    sites = index.sample_sites.astype(str)
    for site in np.unique(sites):
        m = xr.DataArray(sites == site, dims="sample")
        want = float(metrics(o, p, mask=m).rmse)
        got = float(imp.score.sel(repeat=0, driver="vpd", site=site))
        assert got == pytest.approx(want, rel=1e-5)


def test_permutation_groups_metrics_and_within_all(lasso_run):
    run, ds = lasso_run
    imp = permutation_importance(
        run, ds, None, drivers={"met": ["ta", "vpd"], "radiation": ["sw_in"]}, metric="r2"
    )
    assert imp.driver.values.tolist() == ["met", "radiation"]
    assert float(imp.importance_pooled.sel(driver="radiation")) > 0  # R2 drops
    assert "ta, vpd" in imp.attrs["inputs_of_driver"]
    both = permutation_importance(run, ds, "test", within="all", n_repeats=2)
    assert both.attrs["within"] == "all"
    again = permutation_importance(run, ds, "test", within="all", n_repeats=2)
    xr.testing.assert_equal(both, again)  # seeded


def test_permutation_bad_input(lasso_run):
    run, ds = lasso_run
    with pytest.raises(ModelError, match=r"'p'\] is not an input .* its inputs are"):
        permutation_importance(run, ds, "test", drivers=["p"])
    with pytest.raises(ModelError, match="metric 'rsme' unknown"):
        permutation_importance(run, ds, "test", metric="rsme")
    with pytest.raises(ModelError, match="n_repeats=0"):
        permutation_importance(run, ds, "test", n_repeats=0)
    target = resolve_target(run, ds, "test")
    with pytest.raises(ModelError, match="bare model needs a scaled WindowCube"):
        permutation_importance(run.model, ds, "test")
    with pytest.raises(ModelError, match="pass windows= as a WindowIndex"):
        permutation_importance(run, target.cube, "test")
    # a bare model with its WindowCube and index works (scores in scaled units)
    imp = permutation_importance(run.model, target.cube, target.index, n_repeats=1)
    assert imp.attrs["units"] == "1 (scaled)"
    other = ds.assign_coords(site=["XX-One", "XX-Two"])
    with pytest.raises(DataNotFoundError, match="not in the split"):
        permutation_importance(run, other, "test")


def test_default_groups():
    g = default_groups(
        ["ta", "vpd", "doy_sin", "doy_cos", "site_lat", "site_lon", "igbp_DBF", "igbp_ENF"],
        ["ta", "vpd"],
    )
    assert g == {
        "ta": ["ta"],
        "vpd": ["vpd"],
        "doy": ["doy_sin", "doy_cos"],
        "location": ["site_lat", "site_lon"],
        "igbp": ["igbp_DBF", "igbp_ENF"],
    }


def test_relative_contribution_sums_to_100():
    phi = xr.DataArray(
        np.array([[1.0, -3.0, 0.0], [-1.0, 1.0, 2.0], [0.5, 0.5, 0.5]]),
        dims=("sample", "driver"),
        coords={"driver": ["ta", "vpd", "sw_in"], "site": ("sample", ["A", "A", "B"])},
    )
    share = relative_contribution(phi, by="site")
    np.testing.assert_allclose(share.sum("driver").values, 100.0)
    np.testing.assert_allclose(share.sel(site="A").values, [25.0, 50.0, 25.0])
    only = relative_contribution(phi, by=None, drivers=["ta", "vpd"])
    assert only.dims == ("driver",)
    with pytest.raises(DataNotFoundError, match="no 'igbp' label"):
        relative_contribution(phi, by="igbp")


# --------------------------------------------------------------------------- attention
def test_attention_summary_of_an_ilstm():
    run, ds = _train("ilstm", {"hidden": 4}, {"epochs": 1, "max_batches_per_epoch": 5})
    summary = attention_summary(run, ds, part="test", by="site")
    assert summary.alpha.dims == ("site", "driver", "lag")
    np.testing.assert_allclose(summary.alpha.sum("lag").values, 1.0, rtol=1e-5)
    np.testing.assert_allclose(summary.beta.sum("driver").values, 1.0, rtol=1e-5)
    assert set(summary.site.values.tolist()) == set(SITES)
    overall = attention_summary(run.attention(ds, part="test"), by=None)
    assert overall.beta.dims == ("driver",)
    by_igbp = attention_summary(run, ds, by="igbp")
    assert set(by_igbp.igbp.values.tolist()) == set(ds.igbp.values.astype(str).tolist())
    with pytest.raises(DataNotFoundError, match="no window ends within"):
        attention_summary(run.attention(ds, part="test"), period=("1990-01-01", "1990-12-31"))
    lstm = _train("lasso", {"alpha": 0.1})[0]
    with pytest.raises(ModelError, match="no attention weights"):
        attention_summary(lstm, ds)


def test_accessor_delegates(lasso_run):
    import fluxgrid  # noqa: F401  (registers the accessor)

    run, ds = lasso_run
    direct = permutation_importance(run, ds, "test", n_repeats=2)
    via = ds.fluxgrid.permutation_importance(run, "test", n_repeats=2)
    xr.testing.assert_identical(direct, via)


# --------------------------------------------------------------------------- SHAP
def _check_additive(sv, tol):
    total = sv.shap.sum("driver") + sv.base_value
    np.testing.assert_allclose(total.values, sv.prediction.values, atol=tol)
    assert float(abs(sv.additivity_error).max()) <= tol


def test_shap_lstm_additivity_shapes_and_noise(lstm_run):
    run, ds = lstm_run
    sv = shap_values(run, ds, "test", max_windows=120, background=16, steps=48, seed=0)
    assert sv.attrs["method"] == "expected_gradients"
    assert sv.shap.dims == ("sample", "driver")
    assert sv.shap_lag.dims == ("sample", "lag", "driver")
    assert sv.sizes["lag"] == 30 and sv.sizes["sample"] == 120
    assert sv.driver.values.tolist() == [*DRIVERS, "doy"]
    assert set(sv.site.values.tolist()) <= set(SITES) and "igbp" in sv.coords
    # sum over drivers + base value = prediction (quadrature error only)
    _check_additive(sv, tol=0.01 * float(sv.prediction.std()))
    np.testing.assert_allclose(sv.shap.values, sv.shap_lag.sum("lag").values, rtol=1e-4, atol=1e-6)
    # the predictions are the model's own (explain mode changes nothing)
    target = resolve_target(run, ds, "test")
    want = run.predict_windows(target.cube, target.index)
    got = sv.prediction.to_series()
    lookup = dict(
        zip(
            zip(target.index.sample_sites, target.index.sample_times, strict=True),
            want,
            strict=True,
        )
    )
    for site, time, value in zip(sv.site.values, sv.time.values, got.values, strict=True):
        assert value == pytest.approx(lookup[(site, time)], abs=1e-4)
    share = relative_contribution(sv, by=None)
    assert float(share.sel(driver="noise")) < 10.0
    assert float(share.sum()) == pytest.approx(100.0)


def test_shap_refines_windows_with_large_quadrature_error(lstm_run):
    run, ds = lstm_run
    kw = {"max_windows": 60, "background": 4, "seed": 1}
    coarse = shap_values(run, ds, "test", steps=2, tolerance=None, **kw)
    assert (coarse.steps == 2).all() and coarse.attrs["tolerance"] == "none"
    spread = float(coarse.prediction.std())
    assert float(abs(coarse.additivity_error).max()) > 0.01 * spread  # 2 points are too few
    fine = shap_values(run, ds, "test", steps=2, tolerance=0.001, max_steps=256, **kw)
    xr.testing.assert_allclose(fine.prediction, coarse.prediction)
    assert fine.attrs["tolerance"] == 0.001 and fine.attrs["max_steps"] == 256
    used = fine.steps.values
    assert set(np.unique(used)) <= {2, 4, 8, 16, 32, 64, 128, 256} and used.max() > 2
    passed = np.abs(fine.additivity_error.values) <= 0.001 * spread * 1.01
    assert (passed | (used == 256)).all()
    err = np.abs(fine.additivity_error.values)  # float32 target units: compare with margins
    above = fine.attrs["n_above_tolerance"]
    assert int((err > 0.001 * spread * 1.01).sum()) <= above <= int((err > 0.00099 * spread).sum())
    assert coarse.attrs["n_above_tolerance"] == 0  # no tolerance, nothing counted
    # windows that passed with 2 points keep their values
    kept = used == 2
    np.testing.assert_allclose(fine.shap.values[kept], coarse.shap.values[kept])
    with pytest.raises(ModelError, match="tolerance"):
        shap_values(run, ds, "test", tolerance=0.0, **kw)


def test_shap_agrees_with_shap_gradient_explainer(lstm_run):
    run, ds = lstm_run
    ours = shap_values(run, ds, "test", max_windows=40, background=16, seed=2)
    lib = shap_values(
        run, ds, "test", max_windows=40, background=16, seed=2, method="shap_gradient", nsamples=64
    )
    assert lib.attrs["method"] == "shap_gradient"
    corr = np.corrcoef(ours.shap.values.ravel(), lib.shap.values.ravel())[0, 1]
    assert corr > 0.9
    # Monte-Carlo additivity of shap's explainer is looser than the quadrature's
    assert float(abs(ours.additivity_error).mean()) < float(abs(lib.additivity_error).mean())


@pytest.mark.parametrize(
    ("name", "params", "method"),
    [
        ("lasso", {"alpha": 0.01}, "linear"),
        ("rf", {"n_estimators": 20, "n_jobs": 1}, "tree"),
    ],
)
def test_shap_sklearn_exact(name, params, method):
    run, ds = _train(name, params)
    sv = shap_values(run, ds, "test", max_windows=150)
    assert sv.attrs["method"] == method
    _check_additive(sv, tol=1e-4)
    assert sv.shap_aggregate.dims == ("sample", "aggregate", "driver")
    assert sv.aggregate.values.tolist() == [1, 7, 30, 30]
    if method == "linear":
        np.testing.assert_allclose(sv.shap_lag.sum("lag").values, sv.shap.values, atol=1e-5)
        np.testing.assert_allclose(
            sv.shap_aggregate.sum("aggregate").values, sv.shap.values, atol=1e-4
        )
    else:
        assert "shap_lag" not in sv


def test_shap_bad_input(lasso_run, lstm_run):
    run, ds = lasso_run
    with pytest.raises(ModelError, match=r"method 'tree'.*For svr"):
        shap_values(run, ds, "test", method="tree")
    with pytest.raises(ModelError, match="SHAP method 'kernel' unknown"):
        shap_values(run, ds, "test", method="kernel")
    svr, ds2 = _train("svr", {"max_train_samples": 300})
    with pytest.raises(ModelError, match=r"cannot explain model 'svr'.*permutation_importance"):
        shap_values(svr, ds2, "test")
    lstm, ds3 = lstm_run
    with pytest.raises(ModelError, match="background=0"):
        shap_values(lstm, ds3, "test", background=0)


def test_shap_method_comes_from_the_model_class():
    """Each model class declares what SHAP can do with it; no list of names decides."""
    declared = {name: MODELS.get(name).shap_method for name in MODELS.names()}
    assert declared["lstm"] == declared["ilstm"] == declared["fnn"] == "gradient"
    assert (declared["rf"], declared["lasso"], declared["svr"]) == ("tree", "linear", None)
    assert shap_algorithm(MODELS.get("gru")) == "expected_gradients"
    assert shap_algorithm(MODELS.get("gru"), "shap_gradient") == "shap_gradient"
    assert shap_algorithm(MODELS.get("lasso")) == "linear"

    class Ridge(MODELS.get("lasso")):  # a new linear model needs only the declaration
        name = "ridge"

    assert shap_algorithm(Ridge) == "linear"
    with pytest.raises(ModelError, match=r"model 'ridge' with method 'tree'.*\(rf\)"):
        shap_algorithm(Ridge, "tree")


def test_explainers_are_registered_by_name():
    assert EXPLAINERS.names() == ["attention", "permutation", "response", "shap"]
    assert all(EXPLAINERS.get(n).name == n for n in EXPLAINERS.names())
    with pytest.raises(ModelError, match=r"unknown explanation method 'kernel'.*shap"):
        EXPLAINERS.get("kernel")


@pytest.mark.gpu
def test_shap_lstm_on_gpu_keeps_predictions(lstm_run):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    run, ds = lstm_run
    cpu = shap_values(run, ds, "test", max_windows=64, background=8, device="cpu")
    gpu = shap_values(run, ds, "test", max_windows=64, background=8, device="cuda")
    run.model.to("cpu")
    np.testing.assert_allclose(gpu.prediction.values, cpu.prediction.values, atol=1e-4)
    np.testing.assert_allclose(gpu.shap.values, cpu.shap.values, atol=1e-3)
    _check_additive(gpu, tol=0.01 * float(gpu.prediction.std()))


# --------------------------------------------------------------------------- response surfaces
def test_response_surface_shape_and_masks(lstm_run):
    run, ds = lstm_run
    rs = response_surface(
        run, ds, "test", x="ta", y="sw_in", x_offsets=[-3, 0, 3, 60], y_offsets=[-40, 0, 40]
    )
    assert rs.change.dims == ("ta_offset", "sw_in_offset")
    assert rs.change.shape == (4, 3)
    assert rs.ta_offset.attrs["units"] == "degC" and rs.sw_in_offset.attrs["units"] == "W m-2"
    # no shift: no change, and the response is the mean prediction of the windows
    assert float(rs.change.sel(ta_offset=0, sw_in_offset=0)) == pytest.approx(0.0, abs=1e-5)
    target = resolve_target(run, ds, "test")
    mean_pred = float(np.mean(run.predict_windows(target.cube, target.index)))
    assert float(rs.baseline) == pytest.approx(mean_pred, abs=1e-4)
    # the observed climate supports no shift; 60 degC warmer is outside it everywhere
    assert float(rs.density.sel(ta_offset=0, sw_in_offset=0)) > 0.9
    assert not bool(rs.low_density.sel(ta_offset=0, sw_in_offset=0))
    assert (rs.density.sel(ta_offset=60) == 0).all()
    assert rs.low_density.sel(ta_offset=60).all()
    # brighter and warmer days: more uptake (NEE more negative) at these forest sites
    assert float(rs.change.sel(ta_offset=0, sw_in_offset=40)) < 0
    per_site = response_surface(run, ds, "test", x_offsets=[-2, 0, 2], y_offsets=[0], by="site")
    assert per_site.change.dims == ("site", "ta_offset", "sw_in_offset")
    assert per_site.n_windows.sum() == len(target.index)
    default = response_surface(run, ds, "test", x="vpd", y="ta")
    assert default.change.shape == (9, 9)


def test_response_surface_bad_input(lasso_run):
    run, ds = lasso_run
    with pytest.raises(ModelError, match="x and y are both 'ta'"):
        response_surface(run, ds, x="ta", y="ta")
    with pytest.raises(ModelError, match=r"\['p'\] is not an input"):
        response_surface(run, ds, x="ta", y="p")
    with pytest.raises(ModelError, match="min_fraction"):
        response_surface(run, ds, min_fraction=2.0)


# --------------------------------------------------------------------------- plots
def test_explanation_plots(lstm_run, tmp_path):
    pytest.importorskip("matplotlib")
    from fluxgrid.errors import GridError
    from fluxgrid.plots import plot_importance, plot_response_surface, plot_shap_summary
    from fluxgrid.studies.guided.figures import plot_taylor

    run, ds = lstm_run
    imp = permutation_importance(run, ds, "test", n_repeats=2)
    fig = plot_importance(imp, path=tmp_path / "imp.png")
    assert (tmp_path / "imp.png").stat().st_size > 1000
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == sorted(heights, reverse=True)  # sorted bars
    plot_importance(imp, site="all")
    plot_importance(imp, site="US-MMS")
    with pytest.raises(GridError):
        plot_importance(xr.Dataset())
    sv = shap_values(run, ds, "test", max_windows=40, background=8)
    fig = plot_shap_summary(sv, by="igbp", drivers=["ta", "sw_in", "vpd"])
    assert len(fig.axes) == 3  # heatmap, its colour bar, lags
    rs = response_surface(
        run, ds, "test", x_offsets=[-2, 0, 2], y_offsets=[-30, 0, 30, 300], by="site"
    )
    plot_response_surface(rs, group="DE-Hai", path=tmp_path / "rs.png")
    with pytest.raises(GridError, match="pass group="):
        plot_response_surface(rs)
    stats = xr.Dataset(
        {
            "sd_obs": ("case", [1.0, 0.3]),
            "sd_pred": ("case", [0.8, 0.2]),
            "r": ("case", [0.9, -0.1]),
        },
        coords={"case": ["seasonal", "interannual"]},
    )
    plot_taylor(stats, path=tmp_path / "taylor.png")
    assert (tmp_path / "taylor.png").stat().st_size > 1000


# --------------------------------------------------------------------------- command line
def _run_dir(tmp_path, model: dict, lookback: int, train: dict | None = None):
    """A run directory written by ``train_experiment`` on the demo sites."""
    from fluxgrid.training import train_experiment

    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "sites": SITES},
            "split": {"method": "temporal", "test_fraction": 0.2, "validation": "tail"},
            "windows": {"lookback": lookback, "static": ["doy"]},
            "model": model,
            "train": {"device": "cpu", **(train or {})},
        },
    )
    return train_experiment(cfg, output=tmp_path / "run")


def test_cli_explain(tmp_path, capsys):
    from fluxgrid.cli import main

    run_dir = _run_dir(tmp_path, {"name": "lasso", "params": {"alpha": 0.01}}, 30)
    assert main(["explain", str(run_dir), "--method", "permutation", "--n-repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "permutation importance (nrmse" in out and "sw_in" in out
    imp = xr.open_dataset(run_dir / "explain" / "permutation.nc")
    assert imp.importance.dims == ("driver", "site")
    assert (run_dir / "explain" / "permutation.png").is_file()
    assert main(["explain", str(run_dir), "--method", "shap", "--max-windows", "50"]) == 0
    assert "relative contribution" in capsys.readouterr().out
    assert main(["explain", str(run_dir), "--method", "response", "--by", "none"]) == 0
    assert xr.open_dataset(run_dir / "explain" / "response.nc").change.dims == (
        "ta_offset",
        "sw_in_offset",
    )
    # an existing output is refused; attention of a LASSO is a clear error
    assert main(["explain", str(run_dir), "--method", "shap"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["explain", str(run_dir), "--method", "attention"]) == 2
    assert "no attention weights" in capsys.readouterr().err


def test_cli_explain_attention(tmp_path, capsys):
    from fluxgrid.cli import main

    model = {"name": "ilstm", "params": {"hidden": 4}}
    run_dir = _run_dir(tmp_path, model, 15, {"epochs": 1, "max_batches_per_epoch": 3})
    assert main(["explain", str(run_dir), "--method", "attention", "-o", str(tmp_path / "x")]) == 0
    assert "mean variable attention beta" in capsys.readouterr().out
    summary = xr.open_dataset(tmp_path / "x" / "attention.nc")
    assert summary.alpha.dims == ("site", "driver", "lag")
    # grouped by vegetation class: the windows get their IGBP label from the cube
    args = ["explain", str(run_dir), "--method", "attention", "--by", "igbp"]
    assert main([*args, "-o", str(tmp_path / "y")]) == 0
    by_igbp = xr.open_dataset(tmp_path / "y" / "attention.nc")
    assert by_igbp.beta.dims == ("igbp", "driver")
    assert by_igbp.igbp.values.astype(str).tolist() == ["DBF"]  # US-MMS and DE-Hai
