"""Land cover as data: MODIS MCD12C1 read as IGBP codes, exact class fractions, land masks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fluxgrid.data import demo_land_cover_path
from fluxgrid.errors import GridError
from fluxgrid.grids import (
    check_fractions,
    class_fractions,
    land_mask,
    make_grid,
    open_land_cover,
    vegetation_type,
)


@pytest.fixture(scope="module")
def demo_lc() -> xr.DataArray:
    return open_land_cover(demo_land_cover_path())


def test_bundled_mcd12c1_cut_is_read_as_igbp_codes(demo_lc):
    assert demo_lc.dims == ("lat", "lon") and demo_lc.shape == (200, 280)
    assert demo_lc.dtype == np.uint8 and demo_lc.attrs["source_scheme"] == "mcd12c1"
    assert np.all(np.diff(demo_lc.lat.values) > 0)  # lat ascending
    codes = set(np.unique(demo_lc.values).tolist())
    assert 0 not in codes and 17 in codes  # MCD12C1 water (0) becomes IGBP water (17)
    # the Mediterranean south of Marseille (43.1 N, 5.0 E) is water, Hainich (51.08 N,
    # 10.45 E) is forest or cropland, as in the product
    assert int(demo_lc.sel(lat=43.1, lon=5.0, method="nearest")) == 17
    assert int(demo_lc.sel(lat=51.08, lon=10.45, method="nearest")) in (1, 4, 5, 12, 14)


def test_bundled_cut_equals_the_global_product(shared_data, demo_lc):
    path = shared_data / "modis" / "MCD12C1.A2019001.006.2020220162300.tif"
    if not path.exists():
        pytest.skip("MCD12C1 GeoTIFF not in the real data folder")
    glob = open_land_cover(path, bbox=(2, 43, 16, 53))
    np.testing.assert_array_equal(glob.values, demo_lc.values)
    np.testing.assert_allclose(glob.lat.values, demo_lc.lat.values, atol=1e-9)
    np.testing.assert_allclose(glob.lon.values, demo_lc.lon.values, atol=1e-9)


def test_fractions_sum_to_one_and_match_the_general_regrid(demo_lc):
    for target in (
        make_grid(0.5, bbox=(2, 43, 16, 53)),
        make_grid(0.33, bbox=(2.1, 43.2, 15.8, 52.6)),
    ):
        fast = class_fractions(demo_lc, target=target)
        # the same fractions through the one-hot + conservative regrid path (extra dim)
        general = class_fractions(demo_lc.expand_dims(band=1), target=target).isel(band=0)
        np.testing.assert_allclose(fast.values, general.values, atol=1e-6)
        check_fractions(fast)
        assert fast.sizes["class"] == 17 and set(fast["class_name"].values) >= {"DBF", "WAT"}


def test_fractions_are_exact_area_shares():
    # one 2x2 degree cell over 1-degree pixels at 60-62 N: pixel areas differ by latitude
    lc = xr.DataArray(
        np.array([[4, 4], [17, 4]], dtype=np.uint8),
        coords=make_grid(1.0, bbox=(0, 60, 2, 62)).coords,
        dims=("lat", "lon"),
    )
    frac = class_fractions(lc, target=make_grid(2.0, bbox=(0, 60, 2, 62)), classes=["DBF", "WAT"])
    south, north = (
        np.sin(np.radians(61)) - np.sin(np.radians(60)),
        np.sin(np.radians(62)) - np.sin(np.radians(61)),
    )
    expected_water = 0.5 * north / (south + north)
    assert float(frac.sel(class_name="WAT").item()) == pytest.approx(expected_water, rel=1e-6)


def test_land_mask_and_vegetation_type_from_real_land_cover(demo_lc):
    target = make_grid(0.5, bbox=(2, 43, 16, 53))
    mask = land_mask(demo_lc, target=target)
    veg = vegetation_type(demo_lc, target=target)
    sea = mask.sel(lat=43.25, lon=5.25, method="nearest")
    assert not bool(sea) and bool(mask.sel(lat=51.25, lon=10.25, method="nearest"))
    assert 0.7 < float(mask.mean()) < 0.95  # mostly land, some Mediterranean and North Sea
    assert int(veg.where(mask).min()) >= 1 and 17 not in np.unique(veg.values)


def test_target_outside_the_land_cover_is_refused(demo_lc):
    with pytest.raises(GridError, match="does not cover the target grid"):
        class_fractions(demo_lc, target=make_grid(0.5, bbox=(0, 40, 16, 53)))


def test_projected_grid_is_refused():
    lc = xr.DataArray(np.ones((2, 2), dtype=np.uint8), dims=("y", "x"))
    with pytest.raises(GridError, match="expected a geographic grid"):
        class_fractions(lc)


def test_unknown_class_scheme_is_refused(tmp_path, demo_lc):
    rioxarray = pytest.importorskip("rioxarray")  # noqa: F841
    bad = (demo_lc.astype("int16") * 3).astype("uint8").rename(lat="y", lon="x")
    bad = bad.rio.write_crs("EPSG:4326")
    path = tmp_path / "landcover_other_scheme.tif"
    bad.rio.to_raster(path)
    with pytest.raises(GridError, match="not in the 'igbp' scheme"):
        open_land_cover(path)
    with pytest.raises(GridError, match="scheme='umd' is not a known"):
        open_land_cover(demo_land_cover_path(), scheme="umd")


def test_fractions_not_summing_to_one_are_refused():
    f = xr.DataArray([[0.3, 0.5], [0.6, 0.5]], dims=("class", "cell"), coords={"class": [4, 10]})
    with pytest.raises(GridError, match=r"1 cells do not sum to 1 \(e.g. 0.9000\)"):
        check_fractions(f)
    partial = f.copy(data=[[0.3, np.nan], [0.7, 0.5]])
    with pytest.raises(GridError, match="NaN for others"):
        check_fractions(partial)
