"""Sentinel-2 L2A pipeline on offline catalogs with COGs in the provider layouts.

The fixture rasters are synthetic reflectance mixtures in the real L2A formats (band
assets, DN scale and the +1000 offset of processing baseline >= 04.00, nodata 0, SCL
classes, granule-metadata angle grids); they check the processing, not vegetation science.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import RemoteSensingError
from fluxgrid.rs.config import S2Config
from fluxgrid.rs.names import STATUS
from fluxgrid.rs.sentinel2 import ANGLE_SOURCES, add_s2, s2_footprint, s2_scaling
from fluxgrid.rs.stac import search_items, tower_xy, utm_epsg
from fluxgrid.rs.testing import SOIL, VEGETATION, s2_truth, write_s2_catalog

pytest.importorskip("odc.stac")
pytestmark = pytest.mark.filterwarnings(
    "ignore::PendingDeprecationWarning", "ignore::DeprecationWarning"
)
pytest.importorskip("spyndex")

SITES = {"DE-Hai": (51.0792, 10.453), "DE-Tha": (50.9624, 13.5652)}
DATES = ["2021-06-02", "2021-06-07", "2021-06-12", "2021-06-17", "2022-06-02", "2022-06-07"]
CONDITIONS = ["clear", "cloud_patch", "cloudy", "sliver", "nodata", "clear"]
ALL = S2Config(max_cloud_cover=100.0)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2")
    pc = write_s2_catalog(root / "pc", SITES, DATES, conditions=CONDITIONS)
    es = write_s2_catalog(
        root / "es",
        {"DE-Hai": SITES["DE-Hai"]},
        DATES,
        conditions=CONDITIONS,
        layout="earth_search",
    )
    return {"pc": pc, "es": es, "root": root}


def _items(source, site="DE-Hai"):
    return search_items(
        source, *SITES[site], collections="sentinel-2-l2a", start="2021-01-01", end="2022-12-31"
    )


def _truth(times, band, lat=SITES["DE-Hai"][0]):
    f = np.array([s2_truth(t, lat) for t in pd.DatetimeIndex(times)])
    return f * VEGETATION[band] + (1 - f) * SOIL[band]


@pytest.fixture(scope="module")
def footprint(catalogs):
    return s2_footprint(_items(catalogs["pc"]), *SITES["DE-Hai"], config=ALL).compute()


def test_statuses_and_clear_share(footprint):
    status = footprint.status.values.tolist()
    assert status == [
        STATUS["ok"],
        STATUS["ok"],
        STATUS["all_masked"],
        STATUS["below_min_share"],
        STATUS["no_data"],
        STATUS["ok"],
    ]
    share = footprint.clear_share.values
    assert share[0] == pytest.approx(1.0)
    assert 0.3 < share[1] < 0.8  # the cloud patch and its shadow
    assert share[2] == 0.0 and 0 < share[3] < 0.01
    # dates without a valid value carry NaN, never zero
    assert np.isnan(footprint.reflectance.values[2:5]).all()


def test_nbar_recovers_nadir_reflectance(catalogs, footprint):
    ok = footprint.status.values == 0
    for band in ("B02", "B04", "B08", "B11"):
        got = footprint.reflectance.sel(band=band).values[ok]
        np.testing.assert_allclose(got, _truth(footprint.time.values[ok], band), atol=0.003)
    # without NBAR the directional effect stays in the data (the fixture views off-nadir)
    raw = s2_footprint(
        _items(catalogs["pc"]), *SITES["DE-Hai"], config=S2Config(max_cloud_cover=100, nbar=False)
    ).compute()
    err_raw = np.abs(
        raw.reflectance.sel(band="B08").values[ok] - _truth(raw.time.values[ok], "B08")
    )
    err_nbar = np.abs(
        footprint.reflectance.sel(band="B08").values[ok] - _truth(footprint.time.values[ok], "B08")
    )
    assert err_raw.max() > 3 * err_nbar.max()
    assert ANGLE_SOURCES[footprint.angle_source.values[0]] == "granule metadata"
    assert (footprint.vza.values > 1.5).all()


def test_earth_search_layout_gives_the_same(catalogs, footprint):
    es = s2_footprint(_items(catalogs["es"]), *SITES["DE-Hai"], config=ALL).compute()
    assert ANGLE_SOURCES[es.angle_source.values[0]] == "item properties"
    np.testing.assert_array_equal(es.status.values, footprint.status.values)
    ok = es.status.values == 0
    np.testing.assert_allclose(
        es.reflectance.values[ok], footprint.reflectance.values[ok], atol=0.003
    )


def test_scaling_follows_processing_baseline(catalogs):
    items = _items(catalogs["pc"])
    old = next(i for i in items if i.properties["s2:processing_baseline"] < "04.00")
    new = next(i for i in items if i.properties["s2:processing_baseline"] >= "04.00")
    assert s2_scaling(old, "B04") == (1e-4, 0.0)
    assert s2_scaling(new, "B04") == (1e-4, -0.1)
    es_item = _items(catalogs["es"])[-1]
    assert s2_scaling(es_item, "red") == (1e-4, -0.1)


def test_custom_mask_function(catalogs):
    def no_mask(ds):
        return xr.ones_like(ds["SCL"], dtype=bool)

    fp = s2_footprint(_items(catalogs["pc"]), *SITES["DE-Hai"], config=ALL, mask=no_mask).compute()
    assert fp.status.values[2] == STATUS["ok"]  # the cloudy date passes a mask that sees no cloud
    assert fp.status.values[4] == STATUS["no_data"]  # nodata is never valid
    with pytest.raises(RemoteSensingError, match="dims"):
        s2_footprint(
            _items(catalogs["pc"]), *SITES["DE-Hai"], mask=lambda ds: ds["SCL"][0]
        ).compute()


def _write_tif(rasterio, path, data, transform, crs=None, nodata=None):
    """A single-band GeoTIFF (a land-cover raster, optionally without CRS)."""
    profile = dict(driver="GTiff", height=data.shape[0], width=data.shape[1], count=1)
    profile.update(dtype=data.dtype.name, transform=transform)
    if crs is not None:
        profile.update(crs=crs, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def test_landcover_mask(catalogs, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    lat, lon = SITES["DE-Hai"]
    epsg = utm_epsg(lat, lon)
    x0, y0 = tower_xy(lat, lon, f"EPSG:{epsg}")
    data = np.full((300, 300), 20, dtype="uint8")
    data[:, :150] = 10  # trees west of the tower
    transform = Affine(10, 0, x0 - 1500, 0, -10, y0 + 1500)
    path = _write_tif(rasterio, tmp_path / "worldcover.tif", data, transform, f"EPSG:{epsg}", 0)
    cfg = S2Config(max_cloud_cover=100, landcover=str(path), landcover_classes=(10,))
    fp = s2_footprint(_items(catalogs["pc"]), lat, lon, config=cfg).compute()
    full = s2_footprint(_items(catalogs["pc"]), lat, lon, config=ALL).compute()
    ratio = float(fp.n_footprint[0] / full.n_footprint[0])
    assert 0.45 < ratio < 0.55
    # a raster without a CRS cannot be matched to the cube grid
    nocrs = _write_tif(rasterio, tmp_path / "nocrs.tif", data, transform)
    with pytest.raises(RemoteSensingError, match="no CRS"):
        s2_footprint(
            _items(catalogs["pc"]),
            lat,
            lon,
            config=S2Config(landcover=str(nocrs), landcover_classes=(10,)),
        )


def test_lazy_and_bounded_graph(catalogs, no_compute):
    items = _items(catalogs["pc"])
    with no_compute():
        fp = s2_footprint(
            items, *SITES["DE-Hai"], config=S2Config(max_cloud_cover=100, chunk_dates=2)
        )
    n_tasks = len(dict(fp.__dask_graph__()))
    n_chunks = int(np.ceil(len(items) / 2))
    # one load-and-reduce task per block of dates, whatever the number of bands and items
    assert n_tasks <= 4 * n_chunks + 40


def test_pixel_indices_mode(catalogs, footprint):
    cfg = S2Config(max_cloud_cover=100, index_from="pixels", indices=("NDVI", "NIRv"))
    fp = s2_footprint(_items(catalogs["pc"]), *SITES["DE-Hai"], config=cfg).compute()
    assert fp.indices.dims == ("time", "index")
    ok = fp.status.values == 0
    red = footprint.reflectance.sel(band="B04").values[ok]
    nir = footprint.reflectance.sel(band="B08").values[ok]
    # mean of pixel NDVI is close to the NDVI of the mean over a smooth footprint
    np.testing.assert_allclose(
        fp.indices.sel(index="NDVI").values[ok], (nir - red) / (nir + red), atol=0.01
    )


def test_add_s2_full_pipeline(catalogs, demo_cube, tmp_path):
    cube = demo_cube.sel(site=["DE-Hai", "DE-Tha", "FR-Pue"]).isel(time=slice(0, 1))
    days = pd.date_range("2021-05-30", "2022-06-10")
    cube = cube.reindex(time=days)  # the demo cube ends in 2012; the fixture is 2021/22
    out = add_s2(cube, catalogs["pc"], config=ALL, interpolate=True, max_gap_days=6)
    n_pc = out.sizes["s2_pc"]
    assert 1 <= n_pc < out.sizes["s2_index"]
    assert float(out.s2_pca_explained.sum()) >= 0.99
    for k in range(1, n_pc + 1):
        assert out[f"s2_pc{k}"].dims == ("site", "time")
    assert out.s2_ndvi.attrs["units"] == "1" and "long_name" in out.s2_ndvi.attrs
    assert out.s2_status.attrs["flag_meanings"].startswith("ok no_acquisition")
    hai = out.sel(site="DE-Hai")
    assert int(hai.s2_status.sel(time="2021-06-02")) == STATUS["ok"]
    assert int(hai.s2_status.sel(time="2021-06-04")) == STATUS["interpolated"]
    assert int(hai.s2_status.sel(time="2021-06-12")) in (
        STATUS["interpolated"],
        STATUS["all_masked"],
    )
    assert int(hai.s2_status.sel(time="2022-06-02")) == STATUS["no_data"]
    assert int(hai.s2_status.sel(time="2021-12-01")) == STATUS["no_acquisition"]
    ndvi = hai.s2_ndvi.sel(time="2021-06-02")
    n, r = _truth(["2021-06-02T09:48"], "B08")[0], _truth(["2021-06-02T09:48"], "B04")[0]
    assert float(ndvi) == pytest.approx((n - r) / (n + r), abs=0.01)
    # the site without items is recorded with its reason, its values are missing
    assert "no sentinel-2-l2a items" in str(out.s2_reason.sel(site="FR-Pue").values)
    assert out.s2_pc1.sel(site="FR-Pue").isnull().all()
    assert (out.s2_status.sel(site="FR-Pue") == STATUS["no_acquisition"]).all()
    assert str(out.s2_reason.sel(site="DE-Hai").values) == ""
    # the joined cube is written with the project's store
    from fluxgrid.io.store import open_cube, write_cube

    path = write_cube(out, tmp_path / "rs.zarr")
    back = open_cube(path)
    np.testing.assert_allclose(back.s2_pc1.values, out.s2_pc1.values)
    assert back.s2_pca_loadings.dims == ("s2_pc", "s2_index")
