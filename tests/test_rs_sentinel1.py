"""Sentinel-1 RTC annulus means, dB and DpRVI on offline catalogs in the RTC layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fluxgrid  # noqa: F401  (registers ds.fluxgrid)
from fluxgrid.errors import RemoteSensingError
from fluxgrid.rs.config import S1Config
from fluxgrid.rs.names import STATUS
from fluxgrid.rs.sentinel1 import add_s1, dprvi, s1_annulus
from fluxgrid.rs.stac import search_items
from fluxgrid.rs.testing import s1_truth, write_s1_catalog

pytest.importorskip("odc.stac")
pytestmark = pytest.mark.filterwarnings(
    "ignore::PendingDeprecationWarning", "ignore::DeprecationWarning"
)

SITES = {"DE-Hai": (51.0792, 10.453), "DE-Tha": (50.9624, 13.5652)}
DATES = pd.date_range("2010-05-03", periods=6, freq="6D")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return write_s1_catalog(tmp_path_factory.mktemp("s1"), SITES, DATES)


def _items(catalog, site="DE-Hai"):
    return search_items(
        catalog, *SITES[site], collections="sentinel-1-rtc", start="2010-05-01", end="2010-06-30"
    )


def test_annulus_mean_excludes_tower_and_nodata(catalog):
    out = s1_annulus(_items(catalog), *SITES["DE-Hai"]).compute()
    truth = np.array([s1_truth(t) for t in out.time.values])
    np.testing.assert_allclose(out.vv.values, truth[:, 0], rtol=1e-4)
    np.testing.assert_allclose(out.vh.values, truth[:, 1], rtol=1e-4)
    assert (out.status == STATUS["ok"]).all()
    assert ((out.valid_share > 0.8) & (out.valid_share < 1.0)).all()  # the nodata stripe
    # including the inner 50 m lets the bright mast in
    inner = s1_annulus(_items(catalog), *SITES["DE-Hai"], config=S1Config(inner_m=0.0)).compute()
    assert (inner.vv.values > out.vv.values * 1.05).all()
    # ascending and descending passes are kept apart
    assert set(out.orbit_state.values) == {"ascending", "descending"}
    asc = s1_annulus(
        _items(catalog), *SITES["DE-Hai"], config=S1Config(orbit_state="ascending")
    ).compute()
    assert (asc.orbit_state == "ascending").all() and asc.sizes["time"] == 3


def test_dprvi_equals_covariance_eigen_form():
    rng = np.random.default_rng(3)
    vv = rng.uniform(0.02, 0.3, 20)
    vh = vv * rng.uniform(0.05, 0.9, 20)
    # Mandal et al. (2020): DpRVI = 1 - m * beta from the 2x2 covariance matrix C2; for
    # intensity-only data C2 = diag(VV, VH)
    expected = []
    for a, b in zip(vv, vh, strict=True):
        c2 = np.diag([a, b])
        eig = np.sort(np.linalg.eigvalsh(c2))[::-1]
        m = np.sqrt(1 - 4 * np.linalg.det(c2) / np.trace(c2) ** 2)
        beta = eig[0] / eig.sum()
        expected.append(1 - m * beta)
    np.testing.assert_allclose(dprvi(vv, vh), expected, rtol=1e-12)


def test_add_s1_joins_db_and_indices(catalog, demo_cube):
    cube = demo_cube.sel(
        site=["DE-Hai", "DE-Tha", "US-MMS"], time=slice("2010-05-01", "2010-06-10")
    )
    out = add_s1(cube, catalog)
    hai = out.sel(site="DE-Hai")
    day = DATES[0].strftime("%Y-%m-%d")
    vv, vh = s1_truth(DATES[0])
    assert float(hai.s1_vv_db.sel(time=day)) == pytest.approx(10 * np.log10(vv), abs=1e-3)
    assert float(hai.s1_cr_db.sel(time=day)) == pytest.approx(10 * np.log10(vh / vv), abs=1e-3)
    assert float(hai.s1_dprvi.sel(time=day)) == pytest.approx(float(dprvi(vv, vh)), rel=1e-4)
    assert float(hai.s1_rvi.sel(time=day)) == pytest.approx(4 * vh / (vv + vh), rel=1e-4)
    assert hai.s1_vv_db.attrs["units"] == "dB" and hai.s1_vv.attrs["units"] == "1"
    assert int(hai.s1_status.sel(time=day)) == STATUS["ok"]
    assert int(hai.s1_status.sel(time="2010-05-04")) == STATUS["no_acquisition"]
    assert np.isnan(float(hai.s1_vv_db.sel(time="2010-05-04")))
    assert "no sentinel-1-rtc items" in str(out.s1_reason.sel(site="US-MMS").values)
    with pytest.raises(RemoteSensingError, match="no sentinel-1-rtc items"):
        add_s1(cube.sel(site=["US-MMS"]), catalog, on_error="raise")
    # local days need each site's UTC offset: a missing one is refused, not assumed 0
    unknown = cube.assign_coords(utc_offset=("site", [1.0, np.nan, -5.0]))
    with pytest.raises(RemoteSensingError, match=r"\['DE-Tha'\] lack"):
        add_s1(unknown, catalog)
    # the accessor delegates
    via = cube.sel(site=["DE-Hai"]).fluxgrid.add_s1(catalog)
    np.testing.assert_array_equal(via.s1_vv_db.values, out.s1_vv_db.sel(site=["DE-Hai"]).values)
