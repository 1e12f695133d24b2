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
from fluxgrid.errors import DataNotFoundError, ModelError
from fluxgrid.evaluate import metrics
from fluxgrid.experiment_config import ExperimentConfig
from fluxgrid.explain import (
    _within_site_permutation,
    attention_summary,
    default_groups,
    permutation_importance,
    relative_contribution,
    resolve_target,
)
from fluxgrid.train import TrainedRun, fit_model, load_data, prepare_from_cube

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
    perm = _within_site_permutation(index.site_idx, rng, "site")
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
