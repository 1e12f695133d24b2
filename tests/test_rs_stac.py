"""STAC search (offline ItemCollection / static catalog, live API under `network`) and loading."""

from __future__ import annotations

import numpy as np
import pytest

from fluxgrid.errors import RemoteSensingError
from fluxgrid.rs import geometry, s2_metadata, scl, sentinel2, stac, stac_load, testing
from fluxgrid.rs import items as rs_items
from fluxgrid.rs.config import S2Config
from fluxgrid.rs.sentinel2 import s2_footprint
from fluxgrid.rs.stac import (
    load_site_cube,
    resolve_sign,
    search_items,
    site_geobox,
    tower_xy,
    utm_epsg,
)
from fluxgrid.rs.testing import write_s2_catalog

pytest.importorskip("odc.stac")
pytestmark = pytest.mark.filterwarnings(
    "ignore::PendingDeprecationWarning", "ignore::DeprecationWarning"
)

HAI = (51.0792, 10.453)  # DE-Hai
DATES = ["2020-06-01", "2020-06-06", "2020-06-11"]


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    root = tmp_path_factory.mktemp("stac")
    items = write_s2_catalog(
        root / "items", {"DE-Hai": HAI}, DATES, conditions=["clear", "cloudy", "clear"]
    )
    static = write_s2_catalog(root / "static", {"DE-Hai": HAI}, DATES, kind="catalog")
    partial = write_s2_catalog(root / "partial", {"DE-Hai": HAI}, DATES[:1], missing_assets=["B05"])
    return {"items": items, "catalog": static, "partial": partial}


def _search(source, **kw):
    kw.setdefault("collections", "sentinel-2-l2a")
    kw.setdefault("start", "2020-05-01")
    kw.setdefault("end", "2020-06-30")
    return search_items(source, *HAI, **kw)


def test_offline_item_collection_and_static_catalog(catalogs):
    a = _search(catalogs["items"])
    b = _search(catalogs["catalog"])
    assert [i.id for i in a] == [i.id for i in b]
    assert len(a) == 3
    assert all(i.assets["B04"].href.startswith("/") for i in b)  # absolute after reading


def test_filters_dates_cloud_cover_and_properties(catalogs):
    assert len(_search(catalogs["items"], start="2020-06-02", end="2020-06-06")) == 1
    assert len(_search(catalogs["items"], max_cloud_cover=50)) == 2
    assert len(_search(catalogs["items"], query={"sat:orbit_state": "descending"})) == 3
    with pytest.raises(RemoteSensingError, match="no sentinel-2-l2a items"):
        _search(catalogs["items"], query={"sat:orbit_state": "ascending"})


def test_no_items_in_date_range(catalogs):
    with pytest.raises(RemoteSensingError, match=r"between 2019-01-01 and 2019-02-01"):
        _search(catalogs["items"], start="2019-01-01", end="2019-02-01", site="DE-Hai")


def test_site_outside_tiles(catalogs):
    # 1.4 km east of the tower: the search box still touches the rasters (1.26 km half side)
    lon = HAI[1] + 1400 / (111_320 * np.cos(np.radians(HAI[0])))
    with pytest.raises(RemoteSensingError, match="outside the footprints"):
        search_items(
            catalogs["items"],
            HAI[0],
            lon,
            collections="sentinel-2-l2a",
            start="2020-05-01",
            end="2020-06-30",
            site="X",
        )
    with pytest.raises(RemoteSensingError, match="no sentinel-2-l2a items"):
        search_items(
            catalogs["items"], -33.0, 151.0, collections="sentinel-2-l2a", start="2020", end="2021"
        )


def test_collection_without_the_needed_bands(catalogs):
    items = _search(catalogs["partial"])
    with pytest.raises(RemoteSensingError, match="no asset \\['B05'\\]"):
        load_site_cube(items, *HAI, bands=["B04", "B05", "SCL"])


def test_unreachable_api_gives_clear_error():
    with pytest.raises(RemoteSensingError, match=r"could not be searched.*offline"):
        search_items(
            "http://127.0.0.1:9/api/stac/v1",
            *HAI,
            collections="sentinel-2-l2a",
            start="2020-06-01",
            end="2020-06-02",
            retries=0,
            timeout_s=2,
        )


def test_signing_hook(catalogs):
    def sign(item):
        for asset in item.assets.values():
            asset.href = asset.href + "?sig=test"
        item.properties["signed"] = True
        return item

    items = _search(catalogs["items"], sign=sign)
    assert all(i.properties["signed"] for i in items)
    assert all(a.href.endswith("?sig=test") for i in items for a in i.assets.values())
    assert resolve_sign("json.loads").__name__ == "loads"
    with pytest.raises(RemoteSensingError, match="pip install no-such-signer"):
        resolve_sign("no_such_signer.sign")


def test_load_site_cube_is_centred_utm_native(catalogs, no_compute):
    items = _search(catalogs["items"])
    with no_compute():
        cube = load_site_cube(items, *HAI, bands=["B04", "B05", "SCL"], buffer_m=500)
    assert cube.odc.crs.epsg == utm_epsg(*HAI) == 32632
    assert float(abs(cube.x[1] - cube.x[0])) == 10.0
    x0, y0 = tower_xy(*HAI, "EPSG:32632")
    assert float(cube.x.min()) < x0 - 500 < x0 + 500 < float(cube.x.max())
    assert float(cube.y.min()) < y0 - 500 < y0 + 500 < float(cube.y.max())
    assert cube.time.dtype == np.dtype("datetime64[ns]") and cube.sizes["time"] == 3
    assert cube.B04.dtype == np.uint16 and cube.B04.chunks is not None
    # the origin is snapped to 60 m so 20 m bands are not resampled off their grid
    gb = site_geobox(*HAI, buffer_m=500, resolution=10)
    assert gb.affine.c % 60 == 0 and gb.affine.f % 60 == 0
    assert utm_epsg(-4.29, 11.66) == 32732


def _earth_search(start, end, max_cloud_cover):
    return search_items(
        "https://earth-search.aws.element84.com/v1",
        *HAI,
        collections="sentinel-2-l2a",
        start=start,
        end=end,
        max_cloud_cover=max_cloud_cover,
    )


@pytest.mark.network
def test_live_earth_search():
    items = _earth_search("2020-06-01", "2020-06-15", 100)
    assert items and "red" in items[0].assets


@pytest.mark.network
def test_live_earth_search_footprint():
    items = _earth_search("2020-06-20", "2020-06-30", 30)
    fp = s2_footprint(items[:2], *HAI, config=S2Config(buffer_m=300)).compute()
    ok = fp.status.values == 0
    assert ok.any()
    nir = fp.reflectance.sel(band="B08").values[ok]
    red = fp.reflectance.sel(band="B04").values[ok]
    assert ((nir - red) / (nir + red) > 0.5).all()  # a beech forest in June


@pytest.mark.network
def test_live_planetary_computer_collections():
    for collection, asset in (("sentinel-1-rtc", "vv"), ("modis-11A1-061", "LST_Day_1km")):
        items = search_items(
            "https://planetarycomputer.microsoft.com/api/stac/v1",
            *HAI,
            collections=collection,
            start="2020-06-01",
            end="2020-06-10",
        )
        assert items and asset in items[0].assets


def _assert_json_native(value, where="item"):
    if isinstance(value, dict):
        for key, v in value.items():
            _assert_json_native(v, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for k, v in enumerate(value):
            _assert_json_native(v, f"{where}[{k}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), (where, type(value))


@pytest.mark.parametrize("writer", ["s2", "s1", "modis"])
def test_fixture_catalogs_hold_only_json_native_values(tmp_path, monkeypatch, writer):
    # pystac writes with orjson when it is installed, and orjson refuses numpy scalars
    # (numpy.float64 passes the standard json module, so the failure hid until CI had orjson)
    import pystac.stac_io

    seen = []
    original = pystac.stac_io.DefaultStacIO.json_dumps

    def strict_dumps(self, json_dict, *args, **kwargs):
        _assert_json_native(json_dict)
        seen.append(json_dict["id"])
        return original(self, json_dict, *args, **kwargs)

    monkeypatch.setattr(pystac.stac_io.DefaultStacIO, "json_dumps", strict_dumps)
    write = {
        "s2": testing.write_s2_catalog,
        "s1": testing.write_s1_catalog,
        "modis": testing.write_modis_catalog,
    }[writer]
    write(tmp_path, {"DE-Hai": HAI}, DATES[:1], kind="catalog")
    assert len(seen) >= 2  # the catalog and at least one item went through the check


@pytest.mark.parametrize(
    ("old", "new", "new_only"),
    [
        (stac, geometry, {"footprint_grid"}),
        (stac, rs_items, {"REMOTE_PREFIXES", "is_remote"}),
        (stac, stac_load, set()),
        (sentinel2, s2_metadata, {"s2_step_metadata"}),
        (sentinel2, scl, set()),
    ],
)
def test_moved_names_stay_importable_from_their_module(old, new, new_only):
    # stac.py and sentinel2.py were split; what moved out is the same object there
    names = set(new.__all__) - new_only
    assert names <= set(old.__all__)
    for name in names:
        assert getattr(old, name) is getattr(new, name), name
