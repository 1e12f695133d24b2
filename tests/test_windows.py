import numpy as np
import pytest

from fluxgrid.errors import DataNotFoundError, WindowError
from fluxgrid.prep.qc import qc_mask
from fluxgrid.prep.splits import UNUSED, random_year_split
from fluxgrid.windows import build_windows, fill_short_gaps, input_features, static_inputs

DRIVERS = ["ta", "sw_in", "vpd"]


@pytest.fixture()
def gappy(demo_cube):
    """Real slice: 3 sites x 500 days, drivers kept only where >= 90% of the half-hours were
    measured or good gap-fill (real gaps), NEE QC-masked at 0.7."""
    cube = demo_cube.isel(site=[0, 1, 4], time=slice(300, 800))
    for name in DRIVERS:
        cube[name] = cube[name].where(cube[f"{name}_qc"] >= 0.9)
    clean, _ = qc_mask(cube, threshold=0.7, targets=["nee"], min_valid_fraction=0.0)
    return clean


def _brute_force(cube, lookback, part=None):
    pairs = []
    drivers = np.stack([cube[d].values for d in DRIVERS])
    target = cube.nee.values
    for s in range(cube.sizes["site"]):
        for e in range(cube.sizes["time"]):
            if e < lookback - 1 or np.isnan(target[s, e]):
                continue
            if part is not None and part[s, e] == UNUSED:
                continue
            if np.isnan(drivers[:, s, e - lookback + 1 : e + 1]).any():
                continue
            pairs.append((s, e))
    return pairs


@pytest.mark.parametrize("lookback", [1, 7, 75])
def test_index_equals_brute_force(gappy, lookback):
    assert np.isnan(gappy.vpd.values).any()  # the slice really has gaps
    index = build_windows(gappy, DRIVERS, "nee", lookback)
    got = list(zip(index.site_idx.tolist(), index.end_idx.tolist(), strict=True))
    assert got == _brute_force(gappy, lookback)
    assert int(index.report.n_windows.sum()) == len(index)
    dropped = index.report.n_target - index.report.n_windows
    np.testing.assert_array_equal(dropped, index.report.incomplete_input)


def test_index_with_split_parts(gappy):
    split = random_year_split(gappy, seed=0)
    index = build_windows(gappy, DRIVERS, "nee", 30, split=split)
    expected = _brute_force(gappy, 30, part=split.part.values)
    assert list(zip(index.site_idx.tolist(), index.end_idx.tolist(), strict=True)) == expected
    np.testing.assert_array_equal(index.part, split.part.values[index.site_idx, index.end_idx])
    assert set(np.unique(index.select(["train", "test"]).part)) <= {1, 3}


def test_fill_gaps_makes_windows_complete(gappy):
    plain = build_windows(gappy, DRIVERS, "nee", 30)
    filled = build_windows(gappy, DRIVERS, "nee", 30, fill_gaps=3)
    assert len(filled) >= len(plain)
    assert set(zip(plain.site_idx, plain.end_idx, strict=True)) <= set(
        zip(filled.site_idx, filled.end_idx, strict=True)
    )


def test_fill_short_gaps_matches_loop(gappy):
    values = gappy.vpd.values.astype(np.float64)
    filled, mask = fill_short_gaps(values, 2)
    expected = values.copy()
    for s in range(values.shape[0]):
        row = values[s]
        t = 0
        while t < row.size:
            if np.isnan(row[t]):
                start = t
                while t < row.size and np.isnan(row[t]):
                    t += 1
                if start > 0 and t < row.size and t - start <= 2:
                    for k in range(start, t):
                        w = (k - start + 1) / (t - start + 1)
                        expected[s, k] = row[start - 1] + (row[t] - row[start - 1]) * w
            t += 1
    np.testing.assert_allclose(filled, expected, equal_nan=True)
    assert mask.sum() == np.isnan(values).sum() - np.isnan(filled).sum()
    observed = ~np.isnan(values)
    np.testing.assert_array_equal(filled[observed], values[observed])


def test_static_inputs():
    time = np.array(["2012-01-01", "2012-07-01", "2012-12-31"], dtype="datetime64[ns]")
    feats = static_inputs(
        time,
        np.array([45.5, -30.0]),
        np.array([-84.7, 150.0]),
        np.array(["DBF", ""]),
        static=["doy", "latlon", "igbp"],
        igbp_classes=["DBF", "ENF"],
    )
    np.testing.assert_allclose(feats.doy_sin**2 + feats.doy_cos**2, 1.0, rtol=1e-6)
    assert feats.doy_cos.values[0] > 0.99 and feats.doy_cos.values[1] < -0.99
    assert feats.igbp_DBF.values.tolist() == [1.0, 0.0]
    assert feats.igbp_ENF.values.tolist() == [0.0, 0.0]
    assert feats.site_lat.dims == ("site",)


def test_input_features_order(demo_cube):
    feats = input_features(demo_cube, DRIVERS, static=["doy", "latlon", "igbp"])
    assert feats.attrs["features"] == [
        *DRIVERS,
        "doy_sin",
        "doy_cos",
        "site_lat",
        "site_lon",
        "igbp_DBF",
        "igbp_EBF",
        "igbp_ENF",
    ]


def test_bad_input(demo_cube):
    with pytest.raises(WindowError, match="longer than the record"):
        build_windows(demo_cube, DRIVERS, "nee", demo_cube.sizes["time"] + 1)
    no_vpd = demo_cube.copy(deep=True)
    no_vpd["vpd"].loc[{"site": "DE-Tha"}] = np.nan
    with pytest.raises(WindowError, match=r"driver 'vpd' is missing at site\(s\) \['DE-Tha'\]"):
        build_windows(no_vpd, DRIVERS, "nee", 30)
    masked = demo_cube.copy(deep=True)
    masked["nee"] = masked.nee.where(masked.nee_qc > 2)
    with pytest.raises(WindowError, match="every 'nee' value is missing or masked"):
        build_windows(masked, DRIVERS, "nee", 30)
    with pytest.raises(DataNotFoundError, match="'p'"):
        build_windows(demo_cube, ["ta", "p"], "nee", 30)


def test_windows_accessor_and_xarray(demo_cube):
    import fluxgrid  # noqa: F401

    index = demo_cube.fluxgrid.windows(DRIVERS, "nee", 75)
    ds = index.to_xarray()
    assert ds.sizes["sample"] == len(index)
    assert (ds.time.values == demo_cube.time.values[index.end_idx]).all()
    one = index.for_sites(["DE-Hai"])
    assert set(one.sample_sites.tolist()) == {"DE-Hai"}
