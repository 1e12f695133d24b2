"""The GPP study (fluxgrid.studies.gpp, recipes/gpp_rnn): extremes, seasons, split, QC, recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import wilcoxon

from fluxgrid.config import from_dict
from fluxgrid.errors import ConfigError, DataNotFoundError, ModelError
from fluxgrid.evaluate import anomalies, climate_extremes
from fluxgrid.prep.splits import TEST, TRAIN, UNUSED, VAL, random_year_split
from fluxgrid.studies.gpp import (
    compare_models,
    first_years_split,
    gpp_scores,
    importance_ranking,
    load_gpp_data,
    run_gpp_study,
)
from fluxgrid.studies.gpp.config import GppStudyConfig
from fluxgrid.testing import load_demo_cube

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "gpp_rnn.yaml"

#: a tiny, fast search: 2 Hyperband trials of at most 1 epoch of 3 batches
FAST = {
    "train": {"epochs": 1, "device": "cpu", "max_batches_per_epoch": 3, "batch_size": 64},
    "search": {
        "method": "hyperband",
        "n_trials": 2,
        "space": {
            "model.hidden": {"choices": [4, 8]},
            "model.layers": {"low": 1, "high": 2, "integer": True},
            "train.lr": {"low": 1e-4, "high": 1e-2, "log": True},
        },
    },
    "importance": {"n_repeats": 2, "max_windows_per_site": 40},
}


# --------------------------------------------------------------------------- extremes
def _series(anomaly_year1: np.ndarray) -> xr.DataArray:
    """Two non-leap years of a flat cycle (5): year 1 carries ``anomaly``, year 2 its mirror.

    The mean seasonal cycle of every day of year is then exactly 5 (integers, no rounding),
    so the anomalies are exactly ``anomaly`` in year 1 and ``-anomaly`` in year 2.
    """
    time = pd.date_range("2001-01-01", "2002-12-31", freq="D")
    values = np.concatenate([5.0 + anomaly_year1, 5.0 - anomaly_year1])
    return xr.DataArray(
        values[None, :], dims=("site", "time"), coords={"site": ["X"], "time": time}
    )


def test_extremes_negative_tail_runs_and_threshold_edges():
    """Runs of 5 vs 4 days, and a day exactly at the threshold (strictly below counts)."""
    a = np.zeros(365)
    run_a = np.arange(20, 25)  # 5 days at -10: extreme
    run_b = np.arange(40, 44)  # 4 days at -10: too short
    run_c = np.arange(60, 65)  # 4 days at -10 and one day exactly at the threshold
    run_d = np.arange(80, 85)  # 4 days at -10 and one just below the threshold: extreme
    a[run_a] = -10
    a[run_b] = -10
    a[run_c] = -10
    a[run_c[2]] = -5
    a[run_d] = -10
    a[run_d[-1]] = -5.5
    a[100] = -5  # an isolated day at the threshold value
    # 161 isolated days at -1 (every other day, never next to a run)
    free = [range(0, 19, 2), range(26, 39, 2), range(46, 59, 2), range(66, 79, 2)]
    mild = np.concatenate([*map(np.array, free), np.arange(101, 365, 2)])[:161]
    a[mild] = -1
    negatives = a[a < 0]
    # 181 negative days: position 0.1 * 180 = 18 of the sorted values is the second -5
    assert negatives.size == 181
    threshold = np.quantile(negatives, 0.1)
    assert threshold == -5.0
    da = _series(a)
    np.testing.assert_array_equal(anomalies(da).values[0, :365], a)
    ext = climate_extremes(da, quantile=0.1, min_duration=5, tail="negative")
    days = np.flatnonzero(ext.values[0])
    assert days.tolist() == [*run_a.tolist(), *run_d.tolist()]
    assert ext.attrs["tail"] == "negative" and ext.attrs["min_duration"] == 5
    # with runs of 4 allowed, run B joins; run C is still cut by its day at the threshold
    ext4 = climate_extremes(da, quantile=0.1, min_duration=4, tail="negative")
    got = set(np.flatnonzero(ext4.values[0]).tolist())
    assert set(run_b) <= got and set(run_a) <= got and set(run_d) <= got
    assert got == {*run_a, *run_b, *run_c[:2], *run_d} - set(run_c[:2])  # 2 + 2 days: too short
    # the "all" tail takes the quantile of every anomaly (mostly zeros and positives): the
    # threshold is then -1, so the day at -5 no longer cuts run C, which becomes extreme;
    # the mild days at -1 are not strictly below it
    ext_all = climate_extremes(da, quantile=0.1, min_duration=5, tail="all")
    expected = sorted([*run_a, *run_c, *run_d])
    assert np.flatnonzero(ext_all.values[0]).tolist() == expected


# --------------------------------------------------------------------------- seasons
def _pairs(cube: xr.Dataset) -> xr.Dataset:
    """Real pairs: night-time vs day-time partitioned GPP of the same towers."""
    split = random_year_split(cube, target="gpp_nt", seed=0)
    return xr.Dataset({"obs": cube.gpp_nt, "pred": cube.gpp_dt, "part": split.part})


def test_growing_season_setting_in_both_hemispheres(demo_cube):
    cube = demo_cube.isel(site=[2, 4]).assign_coords(latitude=("site", [51.1, -33.6]))
    pairs = _pairs(cube)
    none = xr.zeros_like(pairs.obs, dtype=bool)
    scores = gpp_scores({"dt": pairs}, none)
    month = pd.DatetimeIndex(pairs.time.values).month
    valid = pairs.obs.notnull().values & pairs.pred.notnull().values & (pairs.part.values == TEST)
    north = valid[0] & (month >= 5) & (month <= 9)
    south = valid[1] & ((month >= 11) | (month <= 3))
    n = scores.n.sel(model="dt", setting="growing_season").values
    assert n.tolist() == [north.sum(), south.sum()]
    assert scores.n.sel(model="dt", setting="full").values.tolist() == valid.sum(1).tolist()
    # the extremes setting scores nothing here (no extreme day) and stays NaN
    assert np.isnan(scores.nrmse.sel(setting="extremes")).all()
    o, p = pairs.obs.values[1][south], pairs.pred.values[1][south]
    want = np.sqrt(np.mean((p - o) ** 2)) / (o.max() - o.min())
    got = float(scores.nrmse.sel(model="dt", setting="growing_season").isel(site=1))
    assert got == pytest.approx(want, rel=1e-5)


def test_extremes_setting_needs_min_days(demo_cube):
    pairs = _pairs(demo_cube)
    ext = xr.zeros_like(pairs.obs, dtype=bool)
    test_days = np.flatnonzero((pairs.part.values[0] == TEST) & pairs.obs.notnull().values[0])
    ext[0, test_days[:12]] = True  # 12 scored days at site 0
    ext[1, np.flatnonzero(pairs.part.values[1] == TEST)[:3]] = True  # at most 3 at site 1
    s = gpp_scores({"dt": pairs}, ext, min_extreme_days=10).sel(model="dt", setting="extremes")
    assert int(s.n[0]) == 12 and np.isfinite(s.nrmse[0])
    assert int(s.n[1]) <= 3 and np.isnan(s.nrmse[1])


# --------------------------------------------------------------------------- split
def test_first_years_split(demo_cube):
    cube = demo_cube.copy()
    gpp = cube.gpp_nt.values
    years = cube.time.dt.year.values
    gpp[1, years < 2010] = np.nan  # US-UMB: 2010-2012 (3 years)
    gpp[2, years != 2012] = np.nan  # DE-Hai: a single year
    gpp[3, years == 2009] = np.nan  # DE-Tha: a gap year, 5 years with data
    cube["gpp_nt"].values = gpp
    split = first_years_split(cube, target="gpp_nt", test_fraction=0.4)
    by_year = split.part.groupby("time.year").max().to_pandas()
    assert by_year.loc["US-MMS"].tolist() == [1, 1, 1, 1, 3, 3]  # 6 years: 4 + 2
    assert by_year.loc["US-UMB"].tolist() == [0, 0, 0, 1, 1, 3]  # 3 years: 2 + 1
    assert by_year.loc["DE-Hai"].tolist() == [0, 0, 0, 0, 0, 1]  # 1 year: training only
    assert by_year.loc["DE-Tha"].tolist() == [1, 1, 0, 1, 3, 3]  # 5 years: 3 + 2
    # a whole year has one part; every training day precedes every test day
    part = split.part.values
    for s in range(part.shape[0]):
        train, test = np.flatnonzero(part[s] == TRAIN), np.flatnonzero(part[s] == TEST)
        if test.size:
            assert train.max() < test.min()
    assert split.attrs["method"] == "first_years"
    with pytest.raises(ConfigError, match="test_fraction"):
        first_years_split(cube, target="gpp_nt", test_fraction=1.0)


# --------------------------------------------------------------------------- data
def _cfg(**overrides) -> GppStudyConfig:
    base = {"data": {"source": "demo"}, **FAST}
    for key, value in overrides.items():
        # a search with another method replaces the whole section (its keys differ)
        replace = key == "search" and value.get("method") != base[key].get("method")
        merge = isinstance(value, dict) and not replace
        base[key] = {**base.get(key, {}), **value} if merge else value
    return from_dict(GppStudyConfig, base)


def test_load_gpp_data_qc_gaps_split_and_report(demo_cube):
    cube = demo_cube.copy(deep=True)
    # US-UMB loses 70% of its GPP days to low QC: below the 60% rule, dropped and reported
    rng = np.random.default_rng(0)
    low = rng.random(cube.sizes["time"]) < 0.7
    cube["nee_qc"][1, low] = 0.2
    # a 3-day gap in ta and in the target at DE-Hai: ta is interpolated, GPP never filled
    cube["ta"][2, 500:503] = np.nan
    cube["gpp_nt"][2, 500:503] = np.nan
    data = load_gpp_data(_cfg(), cube=cube)
    report = data.site_report.to_dataframe()
    assert not report.loc["US-UMB", "kept"]
    assert "< 0.6" in report.loc["US-UMB", "reason"]
    assert report.loc["US-UMB", "valid_fraction"] < 0.6
    assert data.sites == ["US-MMS", "DE-Hai", "DE-Tha", "FR-Pue"]
    assert int(data.qc_report.removed.sel(site="US-UMB", reason="low_qc").sum()) > 0
    hai = data.cube.sel(site="DE-Hai")
    before, after = float(hai.ta[499]), float(hai.ta[503])
    np.testing.assert_allclose(
        hai.ta.values[500:503], before + (after - before) * np.arange(1, 4) / 4, rtol=1e-5
    )
    assert hai.gpp_nt[500:503].isnull().all()
    assert (data.cube.gpp_nt.fillna(0) >= 0).all()  # negative GPP discarded
    assert int(data.gapfill_report.ta.sel(site="DE-Hai", origin="linear_interpolation")) == 3
    assert data.predictors == ["ta", "sw_in", "vpd", "sw_clearsky"]
    assert data.cube.sw_clearsky.notnull().all() and data.cube.sw_clearsky.attrs["units"] == "W m-2"
    # validation: the tail of each site's training years; test years untouched
    part = data.split.part.values
    for s in range(part.shape[0]):
        val, test = np.flatnonzero(part[s] == VAL), np.flatnonzero(part[s] == TEST)
        train = np.flatnonzero(part[s] == TRAIN)
        assert val.size and train.max() < val.min() and val.max() < test.min()
    assert set(np.unique(part)) <= {UNUSED, TRAIN, VAL, TEST}
    assert data.groups == {"all": data.sites}


def test_bad_inputs_fail_before_training(demo_cube):
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(GppStudyConfig, {"data": {"source": "demo", "igbps": ["ENF"]}})
    with pytest.raises(ModelError):
        from_dict(GppStudyConfig, {"models": {"transformer": {}}})
    with pytest.raises(ConfigError, match="bbox"):
        from_dict(GppStudyConfig, {"data": {"bbox": [45, 34, -25, 72]}})
    with pytest.raises(DataNotFoundError, match="rs_cube"):
        load_gpp_data(_cfg(predictors={"extra": ["ndvi"]}), cube=demo_cube)
    with pytest.raises(DataNotFoundError, match="no site is left"):
        load_gpp_data(_cfg(data={"source": "demo", "min_valid_fraction": 1.0}), cube=demo_cube)
    with pytest.raises(DataNotFoundError, match="IGBP"):
        load_gpp_data(_cfg(data={"source": "demo", "igbp": ["GRA"]}), cube=demo_cube)


def test_remote_sensing_cube_joined_as_extra_predictor(demo_cube, tmp_path):
    """Plumbing of predictors.rs_cube: a site-cube store joined on (site, time)."""
    from fluxgrid.io.store import write_cube

    sites = ["DE-Hai", "DE-Tha"]
    # stand-in values (the towers' air temperature) under an extra predictor name
    rs = demo_cube[["ta"]].sel(site=sites).rename(ta="lst_day")
    rs["lst_day"].attrs = {"units": "degC", "long_name": "stand-in land surface temperature"}
    write_cube(rs, tmp_path / "rs.zarr")
    cfg = _cfg(
        data={"source": "demo", "sites": sites},
        predictors={"extra": ["lst_day"], "rs_cube": str(tmp_path / "rs.zarr")},
    )
    data = load_gpp_data(cfg, cube=demo_cube)
    assert data.predictors == ["ta", "sw_in", "vpd", "sw_clearsky", "lst_day"]
    np.testing.assert_array_equal(data.cube.lst_day.values, data.cube.ta.values)


# --------------------------------------------------------------------------- statistics
def test_compare_models_is_scipy_wilcoxon_paired_by_site():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.08, 0.2, 12)
    values = np.stack([base, base + rng.normal(0.01, 0.01, 12), base + rng.normal(0, 0.02, 12)])
    values[2, 3] = np.nan  # a site the third model could not score
    scores = xr.Dataset(
        {"nrmse": (("model", "setting", "site"), values[:, None, :])},
        coords={"model": ["rnn", "gru", "lstm"], "setting": ["full"], "site": np.arange(12)},
    )
    t = compare_models(scores).sel(setting="full")
    assert t.pair.values.tolist() == ["rnn-gru", "rnn-lstm", "gru-lstm"]
    want = wilcoxon(values[0], values[1])
    assert float(t.p_value.sel(pair="rnn-gru")) == pytest.approx(want.pvalue)
    ok = np.isfinite(values[2])
    want2 = wilcoxon(values[1][ok], values[2][ok])
    assert float(t.p_value.sel(pair="gru-lstm")) == pytest.approx(want2.pvalue)
    assert int(t.n_sites.sel(pair="gru-lstm")) == 11
    p = t.p_value.values
    order = np.argsort(p)
    holm = np.minimum(np.maximum.accumulate(p[order] * np.array([3, 2, 1])), 1)
    np.testing.assert_allclose(t.p_holm.values[order], holm)
    assert int(t.a_better.sel(pair="rnn-gru")) == int((values[0] < values[1]).sum())


def test_importance_ranking_ties_and_missing_sites():
    imp = xr.Dataset(
        {
            "importance": (
                ("model", "driver", "site"),
                [[[0.5, 0.1, np.nan], [0.2, 0.3, np.nan], [0.2, 0.0, np.nan]]],
            )
        },
        coords={"model": ["lstm"], "driver": ["sw_clearsky", "ta", "vpd"], "site": list("abc")},
        attrs={"metric": "nrmse"},
    )
    r = importance_ranking(imp).sel(model="lstm")
    assert r["rank"].sel(site="a").values.tolist() == [1.0, 2.5, 2.5]
    assert r["rank"].sel(site="b").values.tolist() == [2.0, 1.0, 3.0]
    assert r["rank"].sel(site="c").isnull().all()
    assert r.median_rank.values.tolist() == [1.5, 1.75, 2.75]
    assert r.share_first.values.tolist() == [0.5, 0.5, 0.0]
    assert r.order.values.tolist() == ["sw_clearsky", "ta", "vpd"]


# --------------------------------------------------------------------------- end to end
def test_recipe_end_to_end_on_two_real_sites(tmp_path):
    """recipes/gpp_rnn.yaml on two bundled FLUXNET2015 towers, 1 epoch, on CPU."""
    from fluxgrid.recipe import RecipeContext, load_recipe
    from fluxgrid.runs import load_run

    module, cfg, _raw = load_recipe(RECIPE)
    assert cfg.search.method == "hyperband" and cfg.train.loss == "mae"
    assert cfg.lookback == 90 and cfg.split.test_fraction == 0.4
    fast = _cfg(data={"source": "demo", "sites": ["DE-Hai", "DE-Tha"]})
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, source="demo", sites=("DE-Hai", "DE-Tha"), bbox=None),
        train=dataclasses.replace(fast.train, loss="mae"),
        search=dataclasses.replace(fast.search),
        importance=fast.importance,
    )
    paths = module.run(cfg, RecipeContext(output=tmp_path))
    out = Path(paths["result"])
    for name in ("nrmse_boxes", "extremes_series", "importance_ranking"):
        assert Path(paths[name]).stat().st_size > 0
    scores = xr.open_dataset(out / "scores.nc")
    assert scores.nrmse.dims == ("model", "setting", "site")
    assert scores.model.values.tolist() == ["rnn", "gru", "lstm"]
    assert scores.setting.values.tolist() == ["full", "growing_season", "extremes"]
    assert np.isfinite(scores.nrmse.sel(setting="full")).all()
    imp = xr.open_dataset(out / "importance.nc")
    assert imp.driver.values.tolist() == ["ta", "sw_in", "vpd", "sw_clearsky", "doy"]
    assert (imp.n_windows <= 40).all()
    search = pd.read_csv(out / "search.csv")
    assert search.trials.tolist() == [2, 2, 2]
    # a saved model reloads and reproduces the study's test predictions
    run = load_run(out / "models" / "lstm" / "all", device="cpu")
    study_pred = xr.open_dataset(out / "predictions" / "lstm.nc")
    data = load_gpp_data(cfg)
    again = run.predict(data.cube, split=run.split())
    np.testing.assert_allclose(again.pred.values, study_pred.pred.values, rtol=1e-5, atol=1e-5)
    # ... and finds the prepared inputs (sw_clearsky is computed, not in the source) itself
    saved = run.load_cube()
    assert "sw_clearsky" in saved and "sw_clearsky" not in load_demo_cube()
    drivers = run.inputs["drivers"]
    xr.testing.assert_allclose(saved[drivers], data.cube[drivers].sel(site=saved.site))
    from fluxgrid.cli import main

    run_dir = out / "models" / "lstm" / "all"
    argv = ["explain", str(run_dir), "--method", "permutation", "--n-repeats", "2"]
    assert main([*argv, "--device", "cpu"]) == 0
    perm = xr.open_dataset(run_dir / "explain" / "permutation.nc")
    assert "sw_clearsky" in perm.driver.values.tolist()
    import shutil

    moved = shutil.copytree(run_dir, tmp_path / "moved_run")
    with pytest.raises(DataNotFoundError, match=r"input cube .* does not exist"):
        load_run(moved, device="cpu").load_cube()
    # the model saw training windows only; validation chose the checkpoint; test untouched
    history = xr.open_dataset(out / "models" / "lstm" / "all" / "history.nc")
    idx = run.windows(data.cube, split=run.split(), require_target=True)
    assert history.attrs["n_train"] == len(idx.select("train"))
    assert history.attrs["n_val"] == len(idx.select("val"))
    # a second run of the recipe skips the finished result
    assert module.run(cfg, RecipeContext(output=tmp_path))["result"] == str(out)


def test_per_site_models_without_search(demo_cube):
    cfg = _cfg(
        data={"source": "demo", "sites": ["DE-Hai", "FR-Pue"]},
        pooling="per_site",
        models={"gru": {"params": {"hidden": 4, "dropout": 0.2}}},
        search={"method": "none"},
        importance={"enabled": False},
    )
    result = run_gpp_study(cfg, cube=demo_cube)
    assert sorted(result.fits) == [("gru", "DE-Hai"), ("gru", "FR-Pue")]
    assert result.fits[("gru", "FR-Pue")].sites == ["FR-Pue"]
    assert result.predictions["gru"].site.values.tolist() == ["DE-Hai", "FR-Pue"]
    assert result.importance is None
    assert result.summary().n_sites.sel(model="gru", setting="full") == 2


def test_seed_ensemble_beside_the_tuned_model(demo_cube, tmp_path):
    from fluxgrid.runs import load_run

    cfg = _cfg(
        data={"source": "demo", "sites": ["DE-Hai", "FR-Pue"]},
        models={"gru": {"params": {"hidden": 4, "dropout": 0.2}}},
        search={"method": "none"},
        importance={"enabled": False},
        ensemble={"seeds": [3, 4]},
    )
    result = run_gpp_study(cfg, cube=demo_cube, output=tmp_path / "study")
    assert list(result.predictions) == ["gru", "gru_x2"]
    members = result.fits[("gru", "all")].members
    assert sorted(members) == [3, 4]
    assert [run.config.train.seed for run, _ in members.values()] == [3, 4]
    split = result.data.split
    preds = [run.predict(result.data.cube, split=split).pred for run, _ in members.values()]
    ens = result.predictions["gru_x2"]
    np.testing.assert_allclose(ens.pred, (preds[0] + preds[1]) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ens.pred_member.sel(member=4), preds[1], rtol=1e-6)
    assert np.nanmax(np.abs(preds[0] - preds[1])) > 0  # the seeds differ
    assert result.scores.model.values.tolist() == ["gru", "gru_x2"]
    assert {"gru", "gru_x2"} <= set(result.summary().model.values.tolist())
    # the members are saved as run directories that reproduce their predictions
    saved = load_run(tmp_path / "study" / "models" / "gru" / "all" / "members" / "seed4")
    again = saved.predict(result.data.cube, split=split).pred
    np.testing.assert_allclose(again, preds[1], rtol=1e-5, atol=1e-5)
    assert "pred_std" in xr.open_dataset(tmp_path / "study" / "predictions" / "gru_x2.nc")
    with pytest.raises(ConfigError, match="at least two"):
        _cfg(ensemble={"seeds": [1]})
