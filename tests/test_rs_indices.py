"""NBAR c-factor, spectral indices and PCA against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from fluxgrid.errors import RemoteSensingError
from fluxgrid.rs.brdf import ROY2017, brdf, c_factor, k_geo, k_vol
from fluxgrid.rs.indices import compute_indices, s2_excluded_indices, s2_index_names
from fluxgrid.rs.pca import apply_pca, fit_pca, reconstruct


# ------------------------------------------------------------------ NBAR
def _hand_kernels(sza: float, vza: float, raa: float) -> tuple[float, float]:
    """RossThick and LiSparse-R written out with scalar math (h/b = 2, b/r = 1)."""
    ts, tv, phi = math.radians(sza), math.radians(vza), math.radians(raa)
    cos_xi = math.cos(ts) * math.cos(tv) + math.sin(ts) * math.sin(tv) * math.cos(phi)
    xi = math.acos(cos_xi)
    kvol = ((math.pi / 2 - xi) * cos_xi + math.sin(xi)) / (
        math.cos(ts) + math.cos(tv)
    ) - math.pi / 4
    sec = 1 / math.cos(ts) + 1 / math.cos(tv)
    d = math.sqrt(
        math.tan(ts) ** 2 + math.tan(tv) ** 2 - 2 * math.tan(ts) * math.tan(tv) * math.cos(phi)
    )
    cos_t = 2.0 * math.sqrt(d**2 + (math.tan(ts) * math.tan(tv) * math.sin(phi)) ** 2) / sec
    t = math.acos(min(1.0, max(-1.0, cos_t)))
    overlap = (t - math.sin(t) * math.cos(t)) * sec / math.pi
    kgeo = overlap - sec + 0.5 * (1 + cos_xi) / (math.cos(ts) * math.cos(tv))
    return kvol, kgeo


@pytest.mark.parametrize(
    ("band", "sza", "vza", "raa"),
    [("B04", 30.0, 10.0, 60.0), ("B08", 55.0, 8.0, 170.0), ("B11", 25.0, 11.0, 10.0)],
)
def test_c_factor_matches_hand_computation(band, sza, vza, raa):
    f_iso, f_geo, f_vol = ROY2017[band]
    kv, kg = _hand_kernels(sza, vza, raa)
    kv0, kg0 = _hand_kernels(sza, 0.0, 0.0)
    expected = (f_iso + f_vol * kv0 + f_geo * kg0) / (f_iso + f_vol * kv + f_geo * kg)
    assert float(k_vol(sza, vza, raa)) == pytest.approx(kv, rel=1e-12)
    assert float(k_geo(sza, vza, raa)) == pytest.approx(kg, rel=1e-12)
    assert float(c_factor(band, sza, vza, raa)) == pytest.approx(expected, rel=1e-12)


def test_c_factor_properties():
    # nadir view: nothing to correct; kernels vanish at nadir sun and view
    assert float(c_factor("B03", 40.0, 0.0, 123.0)) == pytest.approx(1.0)
    assert float(k_vol(0.0, 0.0, 0.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(k_geo(0.0, 0.0, 0.0)) == pytest.approx(0.0, abs=1e-12)
    # hot-spot (backscatter) side is brighter than forward scatter for vegetation NIR
    assert c_factor("B08", 40.0, 10.0, 0.0) < 1.0 < c_factor("B08", 40.0, 10.0, 180.0)
    # vectorised over angles, and a fixed normalisation sun zenith
    c = c_factor("B02", np.array([30.0, 40.0]), np.array([5.0, 9.0]), np.array([0.0, 90.0]))
    assert c.shape == (2,)
    fixed = c_factor("B02", 40.0, 9.0, 90.0, sza_nbar=45.0)
    assert float(fixed) == pytest.approx(
        float(brdf("B02", 45.0, 0.0, 0.0) / brdf("B02", 40.0, 9.0, 90.0))
    )
    with pytest.raises(KeyError, match="B01"):
        brdf("B01", 30.0, 0.0, 0.0)


# ------------------------------------------------------------------ indices
@pytest.fixture()
def reflectance():
    rng = np.random.default_rng(42)
    bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    return {b: rng.uniform(0.02, 0.5, 50) for b in bands}


def test_index_catalogue_covers_sentinel2():
    spyndex = pytest.importorskip("spyndex")
    names = s2_index_names()
    assert len(names) > 100
    assert all("Sentinel-2" in spyndex.indices[n].platforms for n in names)
    applicable = [k for k, v in spyndex.indices.items() if "Sentinel-2" in v.platforms]
    assert set(names) | set(s2_excluded_indices()) == set(applicable)
    assert "photosynthetically active radiation" in s2_excluded_indices()["NIRvP"]


def test_indices_against_hand_formulas(reflectance):
    r = reflectance
    out = compute_indices(r, ["NDVI", "kNDVI", "NDMI", "MCARI", "EVI"])
    n, red, g, re1, s1, blue = r["B08"], r["B04"], r["B03"], r["B05"], r["B11"], r["B02"]
    ndvi = (n - red) / (n + red)
    np.testing.assert_allclose(out.sel(index="NDVI"), ndvi, rtol=1e-5)
    np.testing.assert_allclose(out.sel(index="kNDVI"), np.tanh(ndvi**2), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out.sel(index="NDMI"), (n - s1) / (n + s1), rtol=1e-5)
    mcari = ((re1 - red) - 0.2 * (re1 - g)) * (re1 / red)
    np.testing.assert_allclose(out.sel(index="MCARI"), mcari, rtol=1e-5)
    evi = 2.5 * (n - red) / (n + 6.0 * red - 7.5 * blue + 1.0)
    np.testing.assert_allclose(out.sel(index="EVI"), evi, rtol=1e-4)
    assert out.dims == ("dim_0", "index") and out.dtype == np.float32


def test_constants_override_and_dataarray_input(reflectance):
    da = xr.DataArray(
        np.stack(list(reflectance.values()))[:, :5],
        dims=("band", "time"),
        coords={"band": list(reflectance)},
    )
    savi = compute_indices(da, ["SAVI"], constants={"L": 0.5}).sel(index="SAVI")
    n, red = da.sel(band="B08"), da.sel(band="B04")
    np.testing.assert_allclose(savi, 1.5 * (n - red) / (n + red + 0.5), rtol=1e-5)
    assert savi.dims == ("time",)
    with pytest.raises(RemoteSensingError, match="unknown index constant"):
        compute_indices(da, ["SAVI"], constants={"Lx": 0.5})
    with pytest.raises(RemoteSensingError, match="NIRvP"):
        compute_indices(da, ["NIRvP"])
    with pytest.raises(RemoteSensingError, match="B11"):
        compute_indices(da.sel(band=["B04", "B08"]), ["NDMI"])


def test_all_indices_vectorised(reflectance):
    out = compute_indices(reflectance)
    assert out.sizes["index"] == len(s2_index_names())
    # finite for plausible reflectances except a handful of ratio/log forms
    assert np.isfinite(out.values).mean() > 0.95
    assert not np.isinf(out.values).any()


# ------------------------------------------------------------------ PCA
def _correlated(seed=0, n=300, k=12):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3)) * np.array([3.0, 1.0, 0.3])
    mixing = rng.normal(size=(3, k))
    x = latent @ mixing + rng.normal(scale=0.005, size=(n, k))
    return xr.DataArray(
        x.reshape(3, n // 3, k),
        dims=("site", "time", "index"),
        coords={"index": [f"i{j}" for j in range(k)]},
    )


def test_pca_keeps_99_percent_and_reconstructs():
    data = _correlated()
    pca = fit_pca(data, variance=0.99)
    assert float(pca.explained_variance_ratio.sum()) >= 0.99
    assert pca.sizes["pc"] <= 3 < data.sizes["index"]
    assert pca.loadings.dims == ("pc", "index")
    # loadings are orthonormal
    gram = pca.loadings.values @ pca.loadings.values.T
    np.testing.assert_allclose(gram, np.eye(pca.sizes["pc"]), atol=1e-10)
    scores = apply_pca(data, pca)
    assert scores.dims == ("site", "time", "pc")
    rebuilt = reconstruct(scores, pca).transpose(*data.dims)
    z = (data - pca["mean"]) / pca["scale"]
    zr = (rebuilt - pca["mean"]) / pca["scale"]
    unexplained = float(((z - zr) ** 2).sum() / (z**2).sum())
    assert unexplained <= 1 - float(pca.explained_variance_ratio.sum()) + 1e-9


def test_pca_drops_constant_and_sparse_features_and_masks_missing():
    data = _correlated().copy()
    data.loc[{"index": "i0"}] = 1.0
    data.loc[{"index": "i1"}] = np.nan
    data[0, 0, 2] = np.nan
    pca = fit_pca(data)
    assert "i0: constant" in pca.attrs["dropped"]
    assert "i1: non-finite" in pca.attrs["dropped"]
    assert "i0" not in pca["index"].values and "i1" not in pca["index"].values
    scores = apply_pca(data, pca)
    assert np.isnan(scores[0, 0]).all() and np.isfinite(scores[0, 1]).all()
    with pytest.raises(RemoteSensingError, match="at least 2 samples"):
        fit_pca(data.isel(site=[0], time=[0]) * np.nan)
