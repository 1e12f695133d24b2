"""SSA: known signals, exact reconstruction on real FLUXNET2015 sites, bad input, laziness."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fluxgrid
from fluxgrid.errors import ColumnError, ConfigError
from fluxgrid.prep.ssa import COMPONENTS, MONTH_DAYS, ssa, ssa_decompose

YEAR = 365.25


def _daily(values: np.ndarray, start: str = "1991-01-01", sites=None) -> xr.DataArray:
    values = np.atleast_2d(values)
    time = np.datetime64(start, "ns") + np.arange(values.shape[1]) * np.timedelta64(1, "D")
    sites = sites or [f"S{i}" for i in range(values.shape[0])]
    return xr.DataArray(values, dims=("site", "time"), coords={"site": sites, "time": time})


def _rel_rmse(a: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - truth) ** 2)) / truth.std())


@pytest.fixture(scope="module")
def known_parts():
    """24 years of daily values: annual + semi-annual, a 3-year cycle, a linear trend, noise."""
    n = 8766
    t = np.arange(n)
    seasonal = 4 * np.sin(2 * np.pi * t / YEAR) + np.cos(2 * np.pi * t / (YEAR / 2))
    interannual = 2 * np.sin(2 * np.pi * t / (3 * YEAR) + 0.3)
    trend = 0.0002 * (t - n / 2) + 0.3
    noise = 0.5 * np.random.default_rng(7).standard_normal(n)
    return seasonal, interannual, trend, noise


def test_known_sinusoids_and_trend_are_recovered(known_parts):
    seasonal, interannual, trend, noise = known_parts
    da = _daily(seasonal + interannual + trend + noise).rename("x")
    out = ssa(da, window=0.5, rank=8)
    comp = out.x.isel(site=0)
    # each part comes back in its own group, with a small error
    assert _rel_rmse(comp.sel(component="seasonal").values, seasonal) < 0.03
    assert _rel_rmse(comp.sel(component="interannual").values, interannual) < 0.06
    # a linear trend mixes slightly with the slow cycle (finite-length separability)
    assert _rel_rmse(comp.sel(component="trend").values, trend) < 0.15
    slow = (comp.sel(component="interannual") + comp.sel(component="trend")).values
    assert _rel_rmse(slow, interannual + trend) < 0.03
    # the residual is the noise
    resid = comp.sel(component="residual").values
    assert abs(resid.std() - noise.std()) < 0.05 * noise.std()
    # grouping by dominant period: annual and semi-annual pairs, a 3-year pair, the trend
    groups = out.x_group.isel(site=0).values
    months = out.x_period.isel(site=0).values / MONTH_DAYS
    assert sorted(groups.tolist()) == [0, 0, 0, 0, 1, 1, 2, 2]
    assert np.allclose(np.sort(months[groups == 0]), [6, 6, 12, 12], rtol=0.03)
    assert np.allclose(months[groups == 1], 36, rtol=0.03)
    assert (months[groups == 2] > 128).all()
    # components add back to the series
    assert float(out.x_error.max()) < 1e-9
    assert float(abs(out.x.sum("component") - da).max()) < 1e-9


def test_thresholds_are_configurable(known_parts):
    seasonal, interannual, trend, _ = known_parts
    da = _daily(seasonal + interannual + trend).rename("x")
    # a 3-year cycle is "seasonal" once the seasonal band reaches 40 months ...
    out = ssa(da, window=0.5, rank=8, seasonal_max=40)
    assert _rel_rmse(out.x.sel(component="seasonal").values[0], seasonal + interannual) < 0.03
    # ... and thresholds in days are the same thing
    days = ssa(
        da,
        window=0.5,
        rank=8,
        seasonal_max=40 * MONTH_DAYS,
        trend_min=128 * MONTH_DAYS,
        period_unit="days",
    )
    np.testing.assert_allclose(days.x.values, out.x.values)
    assert out.attrs["ssa_seasonal_max_days"] == pytest.approx(40 * MONTH_DAYS)


def test_monthly_series_exact_full_solver_matches_randomized():
    t = np.arange(360)
    x = 2 * np.sin(2 * np.pi * t / 12) + np.sin(2 * np.pi * t / 40) + 0.01 * t
    time = np.array([np.datetime64("1980-01", "M") + i for i in range(t.size)], "datetime64[ns]")
    da = xr.DataArray(x[None], dims=("site", "time"), coords={"time": time}, name="m")
    full = ssa(da, window=120, rank=6, solver="full")
    rand = ssa(da, window=120, rank=6, solver="randomized", oversample=10)
    assert full.attrs["ssa_step_days"] == MONTH_DAYS  # months are inferred from the axis
    np.testing.assert_allclose(full.m.values, rand.m.values, atol=1e-5)
    assert (
        _rel_rmse(full.m.sel(component="seasonal").values[0], 2 * np.sin(2 * np.pi * t / 12)) < 0.02
    )
    assert (
        _rel_rmse(full.m.sel(component="interannual").values[0], np.sin(2 * np.pi * t / 40)) < 0.05
    )


def test_real_sites_sum_back_and_all_components_leave_no_residual(demo_cube):
    # real FLUXNET2015 NEE of the five bundled sites (gap-free 2007-2012)
    out = demo_cube.fluxgrid.ssa("nee", window=730, rank=32)
    assert out.nee.dims == ("component", "site", "time")
    assert out.component.values.tolist() == list(COMPONENTS)
    total = out.nee.sum("component")
    scale = float(abs(demo_cube.nee).max())
    assert float(abs(total - demo_cube.nee).max()) < 1e-6 * scale
    assert float(out.nee_error.max()) < 1e-6 * scale
    np.testing.assert_allclose(out.nee_contribution.sum("component"), 1.0, atol=1e-9)
    assert out.nee.attrs["units"] == "gC m-2 d-1"
    # a strong seasonal cycle at every site; the annual pair is found at 12 months
    assert (out.nee_contribution.sel(component="seasonal") > 0.3).all()
    months = out.nee_period.isel(rank=slice(0, 3)).values / MONTH_DAYS
    assert (np.abs(months - 12) < 1).sum(axis=1).min() >= 1
    # every elementary component kept (exact SVD): nothing is left in the residual
    every = ssa(demo_cube.isel(site=[2, 3]), "nee", window=120, rank=None)
    assert every.attrs["ssa_rank"] == "all"
    assert float(abs(every.nee.sel(component="residual")).max()) < 1e-9 * scale
    assert (every.nee_group >= 0).all()


def test_randomized_agrees_with_exact_svd_on_real_site(demo_cube):
    nee = demo_cube.nee.isel(site=[0, 3])
    exact = ssa(nee, window=365, rank=16, solver="full")
    fast = ssa(nee, window=365, rank=16, solver="randomized")
    err = np.sqrt(((exact.nee - fast.nee) ** 2).mean("time")) / nee.std("time")
    assert float(err.max()) < 0.01
    np.testing.assert_array_equal(exact.nee_group.values, fast.nee_group.values)


def test_records_of_different_lengths_use_their_own_window(demo_cube):
    nee = demo_cube.nee.isel(site=[0, 1]).copy()
    nee[0, :800] = np.nan  # site 0 starts later: leading NaN is outside its record
    out = ssa(nee, window=0.5, rank=8)
    assert out.nee_length.values.tolist() == [2192 - 800, 2192]
    assert out.nee_window.values.tolist() == [(2192 - 800) // 2, 2192 // 2]
    assert out.nee.isel(site=0, time=slice(0, 800)).isnull().all()
    total = out.nee.sum("component", min_count=1)
    assert float(abs(total - nee).max()) < 1e-5
    # same result for site 1 as on its own (batching does not change a site's result)
    alone = ssa(nee.isel(site=[1]), window=0.5, rank=8)
    np.testing.assert_allclose(alone.nee.isel(site=0), out.nee.isel(site=1), atol=1e-5)


def test_gaps_raise_unless_longest_span(demo_cube):
    nee = demo_cube.nee.isel(site=[0, 1]).copy()
    nee[1, 1000:1003] = np.nan
    with pytest.raises(ColumnError, match="gap-fill"):
        ssa(nee, window=365, rank=8)
    out = ssa(nee, window=0.5, rank=8, on_gaps="longest")
    assert out.nee_length.values.tolist() == [2192, 2192 - 1003]
    assert out.nee_left_out.values.tolist() == [0, 1000]
    assert out.nee.isel(site=1, time=slice(0, 1003)).isnull().all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"window": 1200}, ConfigError, "longer than half the series"),
        ({"window": 0.7}, ConfigError, r"\(0, 0.5\]"),
        ({"window": 1}, ConfigError, "at least 2"),
        ({"rank": 0}, ConfigError, "rank"),
        ({"solver": "lapack"}, ConfigError, "solver"),
        ({"seasonal_max": 200, "trend_min": 128}, ConfigError, "seasonal_max < trend_min"),
        ({"variables": "co2"}, ColumnError, "co2"),
    ],
)
def test_bad_input(demo_cube, kwargs, error, match):
    kwargs = {"variables": "nee", **kwargs}
    with pytest.raises(error, match=match):
        ssa(demo_cube, **kwargs)


def test_irregular_time_axis_is_refused(demo_cube):
    with pytest.raises(fluxgrid.errors.TimestampError, match="regular"):
        ssa(demo_cube.isel(time=[0, 1, 5, 6, 7, 8, 9, 10]), "ta", window=2, rank=1)


def test_lazy_on_dask_and_chunking_independent(demo_cube, no_compute):
    cube = demo_cube[["nee", "ta"]].chunk({"site": 2})
    with no_compute():
        lazy = cube.fluxgrid.ssa(window=730, rank=16)
    assert lazy.nee.chunks is not None
    eager = ssa(demo_cube[["nee", "ta"]], window=730, rank=16)
    computed = lazy.compute()
    for name in ("nee", "ta"):
        np.testing.assert_allclose(computed[name], eager[name], atol=1e-4)
        np.testing.assert_array_equal(computed[f"{name}_group"], eager[f"{name}_group"])


def test_gaps_in_lazy_input_raise_at_compute(demo_cube):
    nee = demo_cube.nee.copy()
    nee[2, 50] = np.nan
    lazy = ssa(nee.chunk({"site": 1}), window=365, rank=4)
    with pytest.raises(ColumnError, match="DE-Hai"):
        lazy.compute()


def test_engine_on_plain_arrays_and_xarray_api(known_parts):
    seasonal, interannual, trend, noise = known_parts
    x = np.stack([seasonal + noise, seasonal + interannual + trend])
    res = ssa_decompose(x, 0.5, rank=8)
    assert res["components"].shape == (2, 4, x.shape[1])
    np.testing.assert_allclose(res["components"].sum(axis=1), x, atol=1e-9)
    out = ssa(_daily(x).rename("x").to_dataset(), variables=["x"], window=0.5, rank=8)
    np.testing.assert_allclose(out.x.transpose("site", "component", "time"), res["components"])
    with pytest.raises(ConfigError, match=r"\(0, 0.5\]"):
        ssa(_daily(x).rename("x"), window=0.9)


def test_component_panels_plot(demo_cube, tmp_path):
    pytest.importorskip("matplotlib")
    from fluxgrid.plots import plot_ssa_components

    parts = ssa(demo_cube, "nee", window=730, rank=8)
    fig = plot_ssa_components(parts, "nee", "DE-Hai", path=tmp_path / "ssa.png")
    assert len(fig.axes) == 5
    assert (tmp_path / "ssa.png").stat().st_size > 0
    with pytest.raises(fluxgrid.errors.GridError, match="site="):
        plot_ssa_components(parts, "nee")
