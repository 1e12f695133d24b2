import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.evaluate import (
    METRICS,
    anomalies,
    climate_extremes,
    evaluate_run,
    growing_season,
    long_runs,
    mean_seasonal_cycle,
    metrics,
    run_scores,
    scores,
    transfer_matrix,
)
from fluxgrid.prep.splits import random_year_split


def _hand(o, p):
    ok = ~np.isnan(o) & ~np.isnan(p)
    o, p = o[ok].astype(np.float64), p[ok].astype(np.float64)
    rmse = np.sqrt(np.mean((p - o) ** 2))
    r = np.corrcoef(o, p)[0, 1]
    return {
        "r2": 1 - np.sum((o - p) ** 2) / np.sum((o - o.mean()) ** 2),
        "r2_pearson": r**2,
        "rmse": rmse,
        "mae": np.mean(np.abs(p - o)),
        "bias": np.mean(p - o),
        "nrmse": rmse / (o.max() - o.min()),
        "lcs": 2 * o.std() * p.std() * (1 - r),
        "n": o.size,
    }


@pytest.fixture()
def pairs(demo_cube):
    """Real pairs: night-time vs day-time partitioned GPP of the same towers."""
    split = random_year_split(demo_cube, target="gpp_nt", seed=0)
    return xr.Dataset(
        {"obs": demo_cube.gpp_nt, "pred": demo_cube.gpp_dt, "part": split.part}
    ).assign_coords(igbp=demo_cube.igbp)


def test_metrics_against_hand_computed(pairs):
    o, p = pairs.obs.values, pairs.pred.values
    got = metrics(pairs.obs, pairs.pred)
    want = _hand(o.ravel(), p.ravel())
    for key in METRICS:
        assert float(got[key]) == pytest.approx(want[key], rel=1e-6), key
    per_site = metrics(pairs.obs, pairs.pred, dim="time")
    for i in range(pairs.sizes["site"]):
        want = _hand(o[i], p[i])
        for key in METRICS:
            assert float(per_site[key][i]) == pytest.approx(want[key], rel=1e-6), key


def test_scores_groups_match_hand_computed(pairs):
    test = pairs.part.values == 3
    by_year = scores(pairs, by="year", part="test")
    years = pairs.time.dt.year.values
    for year in by_year.year.values:
        sel = test & (years == year)[None, :]
        want = _hand(pairs.obs.values[sel], pairs.pred.values[sel])
        if want["n"] == 0:
            assert int(by_year.n.sel(year=year)) == 0
            continue
        assert float(by_year.rmse.sel(year=year)) == pytest.approx(want["rmse"], rel=1e-6)
    by_igbp = scores(pairs, by="igbp", part="test")
    dbf = test & (pairs.igbp.values == "DBF")[:, None]
    want = _hand(pairs.obs.values[dbf], pairs.pred.values[dbf])
    assert float(by_igbp.r2.sel(igbp="DBF")) == pytest.approx(want["r2"], rel=1e-6)
    pooled = scores(pairs, part="test")
    assert float(pooled.lcs) == pytest.approx(
        _hand(pairs.obs.values[test], pairs.pred.values[test])["lcs"], rel=1e-6
    )
    two = scores(pairs, by=("site", "year"), part=None)
    assert two.r2.dims == ("site", "year")


def test_growing_season_both_hemispheres(demo_cube):
    cube = demo_cube.isel(site=[0, 1]).assign_coords(latitude=("site", [45.0, -30.0]))
    gs = growing_season(cube)
    month = pd.DatetimeIndex(cube.time.values).month
    np.testing.assert_array_equal(gs.values[0], (month >= 5) & (month <= 9))
    np.testing.assert_array_equal(gs.values[1], (month >= 11) | (month <= 3))


def test_long_runs_threshold_edges():
    m = np.array([[0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]], dtype=bool)
    out = long_runs(m, 5)
    expected = np.zeros_like(m)
    expected[0, 6:11] = True
    expected[0, 12:18] = True  # a run ending at the last step counts
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(long_runs(m, 4), m)


def test_climate_extremes_hand_built_series():
    """Three years of a flat seasonal cycle with negative anomalies of 4 and 5 days."""
    time = pd.date_range("2001-01-01", "2003-12-31", freq="D")
    base = 5 + 3 * np.sin(2 * np.pi * time.day_of_year.to_numpy() / 365.25)
    values = base.copy()
    values[100:104] -= 10.0  # 4 days: too short
    values[400:405] -= 10.0  # 5 days: an extreme
    da = xr.DataArray(values[None, :], dims=("site", "time"), coords={"time": time, "site": ["X"]})
    ext = climate_extremes(da, quantile=0.01, min_duration=5)
    days = np.flatnonzero(ext.values[0])
    assert days.tolist() == list(range(400, 405))
    anom = anomalies(da)
    assert float(anom.isel(site=0, time=402)) < -6
    clim = mean_seasonal_cycle(da, smooth_days=5)
    assert clim.dims == ("site", "dayofyear") and clim.sizes["dayofyear"] == 366


def test_climate_extremes_on_real_gpp(demo_cube):
    ext = climate_extremes(demo_cube.gpp_nt, quantile=0.1, min_duration=5, tail="negative")
    assert ext.any() and not ext.all()
    # every extreme day belongs to a run of at least 5
    np.testing.assert_array_equal(long_runs(ext.values, 5), ext.values)


def test_transfer_matrix_dims_labels(pairs):
    preds = {s: pairs for s in ["US-MMS", "DE-Hai"]}
    tm = transfer_matrix(preds)
    assert tm.r2.dims == ("train_site", "test_site")
    assert tm.train_site.values.tolist() == ["US-MMS", "DE-Hai"]
    assert tm.test_site.values.tolist() == pairs.site.values.tolist()
    want = scores(pairs.sel(site=["FR-Pue"]), part="test")
    assert float(tm.rmse.sel(train_site="DE-Hai", test_site="FR-Pue")) == pytest.approx(
        float(want.rmse)
    )


def test_evaluate_run(pairs, tmp_path):
    from fluxgrid.io.store import to_netcdf

    to_netcdf(pairs, tmp_path / "predictions.nc")
    out = evaluate_run(tmp_path, by=("site", "igbp"))
    assert out.r2.dims == ("part",) and out.r2_by_igbp.dims == ("part", "igbp")
    assert (tmp_path / "metrics.csv").read_text().startswith("part,r2")


class _ComputeCounter:
    """Counts Dask computes (one per scheduler run) through a Dask callback."""

    def __init__(self):
        from dask.callbacks import Callback

        self.calls = 0
        counter = self

        class _Count(Callback):
            def _start(self, dsk):
                counter.calls += 1

        self._callback = _Count()

    def __enter__(self):
        self._callback.__enter__()
        return self

    def __exit__(self, *exc):
        self._callback.__exit__(*exc)


def test_metrics_of_lazy_inputs_take_one_compute(pairs):
    lazy = pairs.chunk({"site": 1, "time": 500})
    with _ComputeCounter() as counter:
        got = metrics(lazy.obs, lazy.pred, dim="time")
    assert counter.calls == 1
    want = metrics(pairs.obs, pairs.pred, dim="time")
    xr.testing.assert_allclose(got, want)


def test_metrics_fused_blocks_match_hand_computed(pairs):
    """Chunks split along both dims, a mask on time only, a site without valid pairs."""
    obs = pairs.obs.copy()
    obs[1] = np.nan  # no valid pair at this site
    summer = (pairs.time.dt.month >= 5) & (pairs.time.dt.month <= 9)
    lazy_obs = obs.chunk({"site": 2, "time": 333})
    lazy_pred = pairs.pred.chunk({"site": 3, "time": 500})
    with _ComputeCounter() as counter:
        per_site = metrics(lazy_obs, lazy_pred, dim="time", mask=summer.chunk({"time": 400}))
        per_day = metrics(lazy_obs, lazy_pred, dim="site")
    assert counter.calls == 2  # one per call
    o, p, keep = obs.values, pairs.pred.values, summer.values
    assert int(per_site.n[1]) == 0 and np.isnan(per_site.r2[1]) and np.isnan(per_site.nrmse[1])
    for i in (0, 2, 3, 4):
        want = _hand(o[i][keep], p[i][keep])
        for key in METRICS:
            assert float(per_site[key][i]) == pytest.approx(want[key], rel=1e-9), key
    assert per_site.igbp.values.tolist() == pairs.igbp.values.tolist()
    assert per_day.r2.dims == ("time",)
    for t in (0, 800, 2000):
        want = _hand(o[:, t], p[:, t])
        got = per_day.isel(time=t)
        for key in METRICS:
            if np.isnan(want[key]):
                assert want["n"] < 2 or np.isnan(float(got[key])), key
            else:
                assert float(got[key]) == pytest.approx(want[key], rel=1e-9), key
    xr.testing.assert_allclose(per_site, metrics(obs, pairs.pred, dim="time", mask=summer))


def test_scores_of_lazy_inputs_take_one_compute(pairs):
    lazy = pairs.chunk({"site": 1, "time": 500})
    subset = growing_season(pairs.assign_coords(latitude=("site", [40.0, 42.0, 43.0, 50.0, 51.0])))
    with _ComputeCounter() as counter:
        got = scores(lazy, by="igbp", part="test", subset=subset.chunk({"site": 2}))
    assert counter.calls == 1
    xr.testing.assert_allclose(got, scores(pairs, by="igbp", part="test", subset=subset))
    with _ComputeCounter() as counter:
        run = run_scores(lazy, by=("site", "year"))
    assert counter.calls == 1
    xr.testing.assert_allclose(run, run_scores(pairs, by=("site", "year")))
