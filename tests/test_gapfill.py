"""Gap filling on real FLUXNET2015 predictors with punched holes: observed values untouched,
short gaps linear, long gaps day-of-year means, targets never filled, laziness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fluxgrid
from fluxgrid.errors import ColumnError, ConfigError, TimestampError
from fluxgrid.prep.gapfill import day_of_year, gapfill, gapfill_report, is_target
from fluxgrid.prep.ssa import ssa

PREDICTORS = ["ta", "sw_in", "vpd"]


@pytest.fixture()
def holed(demo_cube):
    """Real daily predictors of the 5 demo sites with seeded gaps of 1-40 days, NEE gaps too."""
    rng = np.random.default_rng(3)
    cube = demo_cube.copy(deep=True)
    n_time = cube.sizes["time"]
    for name in [*PREDICTORS, "nee"]:
        values = cube[name].values
        for site in range(cube.sizes["site"]):
            for _ in range(12):
                length = int(rng.choice([1, 2, 3, 5, 8, 20, 40]))
                start = int(rng.integers(30, n_time - 60))
                values[site, start : start + length] = np.nan
    return cube


def _gap_lengths(valid: np.ndarray) -> np.ndarray:
    """Length of the run of missing values each position belongs to (0 where valid)."""
    out = np.zeros(valid.shape, dtype=int)
    for i, row in enumerate(valid):
        runs = np.flatnonzero(np.diff(np.r_[1, row.astype(int), 1]))
        for a, b in zip(runs[::2], runs[1::2], strict=True):
            out[i, a:b] = b - a
    return out


def test_observed_values_untouched_and_targets_never_filled(holed):
    filled = gapfill(holed, max_gap=5)
    for name in PREDICTORS:
        observed = holed[name].notnull().values
        np.testing.assert_array_equal(filled[name].values[observed], holed[name].values[observed])
        assert (filled[f"{name}_filled"].values[observed] == 0).all()
        assert filled[name].dtype == holed[name].dtype
        assert filled[name].attrs == holed[name].attrs
        # every gap was inside the record and the demo has >= 6 years per day of year
        assert filled[name].notnull().all()
    # targets and their QC are left exactly as they were, with no fill flags
    assert filled["nee"].identical(holed["nee"])
    assert not any(str(v).startswith(("nee", "gpp")) and str(v).endswith("_filled") for v in filled)


def test_short_gaps_linear_long_gaps_day_of_year_mean(holed):
    filled = gapfill(holed, ["ta"], max_gap=5)
    values = holed["ta"].values
    valid = ~np.isnan(values)
    gap = _gap_lengths(valid)
    flags = filled["ta_filled"].values
    assert ((flags == 1) == (~valid & (gap <= 5))).all()
    assert ((flags == 2) == (~valid & (gap > 5))).all()
    doy = day_of_year(holed["time"].values)
    for site in range(values.shape[0]):
        t = np.arange(values.shape[1])
        ok = valid[site]
        short = flags[site] == 1
        expected = np.interp(t[short], t[ok], values[site, ok].astype(np.float64))
        np.testing.assert_allclose(filled["ta"].values[site, short], expected, rtol=1e-6)
        clim = pd.Series(values[site, ok].astype(np.float64)).groupby(doy[ok]).mean()
        long = flags[site] == 2
        np.testing.assert_allclose(
            filled["ta"].values[site, long], clim.loc[doy[long]].values, rtol=1e-6
        )


def test_outside_the_record_and_options(holed):
    cube = holed.copy(deep=True)
    for name in cube.data_vars:  # site 0 starts 100 days late: nothing exists before
        if "time" in cube[name].dims:
            cube[name][0, :100] = np.nan
    cube["ta"][0, 100:110] = np.nan  # ta starts later than the other variables
    filled = gapfill(cube, ["ta"], max_gap=5)
    assert filled["ta"][0, :100].isnull().all()
    assert (filled["ta_filled"][0, 100:110] == 2).all()  # one-sided: day-of-year mean
    none = gapfill(cube, ["ta"], max_gap=5, long_gaps="none")
    assert not (none["ta_filled"] == 2).any()
    assert (none["ta_filled"] == 1).sum() == (filled["ta_filled"] == 1).sum()
    strict = gapfill(cube, ["ta"], max_gap=5, min_count=50)  # no day of year has 50 years
    assert not (strict["ta_filled"] == 2).any()
    report = gapfill_report(filled)
    counts = report["ta"]
    assert counts.dims == ("site", "origin")
    assert int(counts.sel(site="US-MMS", origin="unfilled")) == 0
    total = counts.sum("origin")
    assert (total.values == cube["ta"].sizes["time"] - np.array([100, 0, 0, 0, 0])).all()
    assert int(report["ta"].sel(origin="linear_interpolation").sum()) == int(
        (filled["ta_filled"] == 1).sum()
    )


def test_bad_input(holed):
    with pytest.raises(ConfigError, match="flux target"):
        gapfill(holed, ["ta", "nee"])
    with pytest.raises(ConfigError, match="flux target"):
        holed.fluxgrid.gapfill("gpp_nt")
    with pytest.raises(ColumnError, match="swc"):
        gapfill(holed, ["swc"])
    with pytest.raises(ConfigError, match="max_gap"):
        gapfill(holed, max_gap=-1)
    with pytest.raises(ConfigError, match="long_gaps"):
        gapfill(holed, long_gaps="mean")
    with pytest.raises(TimestampError, match="daily"):
        gapfill(holed.fluxgrid.to_monthly())
    assert is_target("reco_dt") and is_target("nee") and not is_target("ta")


def test_lazy_on_dask(holed, no_compute):
    cube = holed.chunk({"site": 2, "time": 365})
    with no_compute():
        lazy = cube.fluxgrid.gapfill(PREDICTORS, max_gap=5)
        report = gapfill_report(lazy)
    assert lazy["ta"].chunks is not None
    eager = gapfill(holed, PREDICTORS, max_gap=5)
    computed = lazy.compute()
    for name in PREDICTORS:
        np.testing.assert_array_equal(computed[name].values, eager[name].values)
        np.testing.assert_array_equal(computed[f"{name}_filled"], eager[f"{name}_filled"])
    assert report.compute()["ta"].identical(gapfill_report(eager)["ta"])


def test_gapfill_then_ssa(holed):
    with pytest.raises(ColumnError, match="gap-fill"):
        ssa(holed, "ta", window=365, rank=8)
    filled = fluxgrid.gapfill(holed, variables=["ta"], max_gap=3)
    out = ssa(filled, "ta", window=365, rank=8)
    assert float(abs(out.ta.sum("component") - filled.ta).max()) < 1e-4


def test_day_of_year_on_leap_years():
    time = pd.date_range("2011-12-31", "2013-01-01", freq="D").values
    doy = day_of_year(time)
    assert doy.min() == 0 and doy.max() == 364
    assert doy[0] == 364 and doy[-1] == 0
    # 1 January and 31 December appear twice; 28 February's slot also holds 29 February 2012
    assert np.flatnonzero(np.bincount(doy) == 2).tolist() == [0, 58, 364]
    assert doy[time == np.datetime64("2012-03-01")][0] == 59
