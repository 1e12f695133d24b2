import numpy as np
import pytest

from fluxgrid.prep.scaling import fit_scaler
from fluxgrid.prep.splits import random_year_split
from fluxgrid.tensors import WindowCube
from fluxgrid.windows import build_windows, input_features

torch = pytest.importorskip("torch")
DRIVERS = ["ta", "sw_in", "vpd"]


@pytest.fixture()
def setup(demo_cube):
    split = random_year_split(demo_cube, seed=0)
    feats = input_features(demo_cube, DRIVERS, static=["doy", "latlon", "igbp"])
    src = feats[[*DRIVERS, "site_lat", "site_lon"]].assign(nee=demo_cube.nee)
    scaler = fit_scaler(src, [*DRIVERS, "site_lat", "site_lon", "nee"], split=split)
    cube = WindowCube.from_dataset(
        demo_cube, DRIVERS, target="nee", scaler=scaler, features=feats, device="cpu"
    )
    index = build_windows(demo_cube, DRIVERS, "nee", 20, split=split)
    return demo_cube, feats, scaler, cube, index


def test_gather_equals_direct_slices(setup):
    ds, feats, scaler, cube, index = setup
    rng = np.random.default_rng(0)
    pick = rng.choice(len(index), 64, replace=False)
    s, e = index.site_idx[pick], index.end_idx[pick]
    x, y = cube.gather(s, e, 20)
    assert x.shape == (64, 20, len(cube.features)) and x.dtype == torch.float32
    for k in range(64):
        days = slice(e[k] - 19, e[k] + 1)
        for j, name in enumerate(DRIVERS):
            expected = scaler.transform_values(ds[name].values[s[k], days], name)
            np.testing.assert_allclose(x[k, :, j].numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(x[k, :, 3].numpy(), feats.doy_sin.values[days], atol=1e-6)
        lat = scaler.transform_values(ds.latitude.values[s[k]], "site_lat")
        np.testing.assert_allclose(x[k, :, 5].numpy(), lat, rtol=1e-5)
        assert float(x[k, 0, -3:].sum()) == 1.0  # one-hot
        np.testing.assert_allclose(
            float(y[k]), scaler.transform_values(ds.nee.values[s[k], e[k]], "nee"), rtol=1e-5
        )


def test_batches_cover_index_once(setup):
    _ds, _feats, _scaler, cube, index = setup
    seen = []
    gen = torch.Generator().manual_seed(0)
    for x, y, pos in cube.batches(index, 500, shuffle=True, generator=gen):
        assert x.shape[0] == y.shape[0] == pos.shape[0]
        seen.append(pos.numpy())
    seen = np.concatenate(seen)
    assert np.array_equal(np.sort(seen), np.arange(len(index)))
    assert not np.array_equal(seen, np.arange(len(index)))  # shuffled


def test_with_feature_replaces_one_input_only(setup):
    _ds, _feats, _scaler, cube, index = setup
    i = cube.feature_index("vpd")
    values = np.zeros((cube.n_site, cube.n_time), dtype=np.float32)
    other = cube.with_feature("vpd", values)
    x0, _ = cube.gather(index.site_idx[:10], index.end_idx[:10], 20)
    x1, _ = other.gather(index.site_idx[:10], index.end_idx[:10], 20)
    assert float(x1[..., i].abs().sum()) == 0.0
    keep = [k for k in range(x0.shape[-1]) if k != i]
    assert torch.equal(x0[..., keep], x1[..., keep])
    assert float(x0[..., i].abs().sum()) > 0  # the original is unchanged


def test_window_before_record_refused(setup):
    from fluxgrid.errors import WindowError

    _ds, _feats, _scaler, cube, _index = setup
    with pytest.raises(WindowError, match="before a full"):
        cube.gather(np.array([0]), np.array([5]), 20)


@pytest.mark.gpu
def test_host_placement_on_gpu(setup):
    ds, feats, scaler, _cube, index = setup
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    host = WindowCube.from_dataset(
        ds, DRIVERS, target="nee", scaler=scaler, features=feats, device="cuda", placement="host"
    )
    dev = WindowCube.from_dataset(
        ds, DRIVERS, target="nee", scaler=scaler, features=feats, device="cuda", placement="device"
    )
    assert host.placement == "host" and dev.placement == "device"
    xh, yh = host.gather(index.site_idx[:100], index.end_idx[:100], 20)
    xd, yd = dev.gather(index.site_idx[:100], index.end_idx[:100], 20)
    assert xh.device.type == "cuda" and torch.equal(xh, xd) and torch.equal(yh, yd)
