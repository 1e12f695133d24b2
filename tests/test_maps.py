"""CF-1.8 NetCDF maps: attributes, compression/chunking, atomic writes, round trips."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import GridError, OutputExistsError
from fluxgrid.grids import make_grid
from fluxgrid.io.maps import check_cf, open_map, parse_units, prepare_map, write_map


@pytest.fixture()
def site_maps(demo_cube):
    """Real daily NEE/GPP of the five bundled FLUXNET2015 sites laid out as a 5 x 2 grid.

    Each site fills one row (both columns), with real gaps as NaN; 2010 only.
    """
    cube = demo_cube.sel(time=slice("2010-01-01", "2010-12-31"))
    grid = make_grid(2.0, bbox=(-2, 40, 2, 50))
    out = {}
    for name in ("nee", "gpp_nt"):
        values = cube[name].transpose("time", "site").values  # (time, 5)
        data = np.repeat(values[:, :, None], 2, axis=2).astype("float32")
        out[name] = (("time", "lat", "lon"), data, {"units": "gC m-2 d-1"})
    nee = out["nee"][1]
    out["nee_std"] = (("time", "lat", "lon"), np.abs(nee) * 0.1, {"units": "gC m-2 d-1"})
    return xr.Dataset(
        out,
        coords={"time": cube.time.values, "lat": grid.lat, "lon": grid.lon},
        attrs={"resolution": "DD", "history": "built from the bundled FLUXNET2015 subset"},
    )


def test_written_map_passes_the_cf_check_and_round_trips(site_maps, tmp_path):
    path = write_map(
        site_maps,
        tmp_path / "nee_map.nc",
        model={"name": "lstm", "hidden": 64, "config": {"lookback": 75}},
        data={"sites": "US-MMS US-UMB DE-Hai DE-Tha FR-Pue", "licence": "CC-BY-4.0"},
        title="test maps",
    )
    assert check_cf(path) == []
    back = open_map(path).compute()
    for name in ("nee", "gpp_nt", "nee_std"):
        np.testing.assert_array_equal(back[name].values, site_maps[name].values)  # NaNs too
        assert back[name].attrs["units"] == "gC m-2 d-1"
        assert back[name].dtype == np.float32
    np.testing.assert_array_equal(back.time.values, site_maps.time.values)
    assert back.lat.values.tolist() == site_maps.lat.values.tolist()
    assert back.attrs["Conventions"] == "CF-1.8"
    assert back.attrs["model_name"] == "lstm" and back.attrs["model_hidden"] == 64
    assert back.attrs["model_config"] == '{"lookback": 75}'
    assert back.attrs["data_licence"] == "CC-BY-4.0"
    assert "write_map" in back.attrs["history"]
    assert back.attrs["history"].endswith("built from the bundled FLUXNET2015 subset")
    assert back.nee.attrs["long_name"].startswith("net ecosystem exchange")
    assert "standard_name" not in back.nee.attrs  # the CF name would mean -NEE
    assert (
        back.gpp_nt.attrs["standard_name"]
        == "gross_primary_productivity_of_biomass_expressed_as_carbon"
    )
    assert "ensemble standard deviation" in back.nee_std.attrs["long_name"]


def test_file_layout_compression_chunks_and_bounds(site_maps, tmp_path):
    path = write_map(site_maps, tmp_path / "maps.nc")
    with netCDF4.Dataset(path) as nc:
        nee = nc["nee"]
        assert nee.filters()["zlib"] and nee.filters()["shuffle"]
        assert nee.chunking() == [1, 5, 2]  # one time step x the full map
        assert nee.units == "g m-2 d-1" and nee.fluxgrid_units == "gC m-2 d-1"
        assert nee.cell_methods == "area: mean time: mean"
        assert nee.grid_mapping == "crs"
        assert nc["crs"].grid_mapping_name == "latitude_longitude"
        assert nc["lat"].bounds == "lat_bnds" and nc["time"].bounds == "time_bnds"
        np.testing.assert_allclose(nc["lat_bnds"][0], [40.0, 42.0])
        assert nc["time"].units.startswith("days since")
        tb = nc["time_bnds"][:]
        np.testing.assert_allclose(tb[:, 1] - tb[:, 0], 1.0)  # daily cells
        assert nc.getncattr("sign_convention").startswith("NEE < 0")
    tiled = write_map(site_maps, tmp_path / "tiles.nc", tile_bytes=4 * 2 * 2)
    with netCDF4.Dataset(tiled) as nc:
        assert nc["nee"].chunking() == [1, 2, 2]


def test_refuses_existing_file_and_leaves_nothing_partial(site_maps, tmp_path):
    path = write_map(site_maps, tmp_path / "maps.nc")
    with pytest.raises(OutputExistsError):
        write_map(site_maps, path)
    before = path.stat().st_mtime_ns
    bad = site_maps.copy()
    bad["nee"] = bad.nee.copy().drop_attrs()
    with pytest.raises(GridError, match="'nee' has no 'units'"):
        write_map(bad, path, overwrite=True)
    assert path.stat().st_mtime_ns == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.nc"]  # no temporary left
    write_map(site_maps, path, overwrite=True)
    assert check_cf(path) == []


def test_lazy_maps_are_written_chunk_by_chunk(site_maps, tmp_path, no_compute):
    lazy = site_maps.chunk({"time": 30})
    with no_compute():
        prepared = prepare_map(lazy)
    assert prepared.nee.chunks is not None
    path = write_map(lazy, tmp_path / "lazy.nc")
    np.testing.assert_array_equal(open_map(path).nee.values, site_maps.nee.values)


def test_monthly_maps_get_monthly_bounds(tmp_path):
    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    time = pd.date_range("2010-01-01", periods=3, freq="MS")
    ds = xr.Dataset(
        {
            "gpp_nt": (
                ("time", "lat", "lon"),
                np.ones((3, 2, 2), "float32"),
                {"units": "gC m-2 d-1"},
            )
        },
        coords={"time": time, "lat": grid.lat, "lon": grid.lon},
    )
    path = write_map(ds, tmp_path / "monthly.nc")
    with xr.open_dataset(path) as back:
        ends = pd.DatetimeIndex(back.time_bnds.values[:, 1])
    assert ends.strftime("%Y-%m-%d").tolist() == ["2010-02-01", "2010-03-01", "2010-04-01"]


def test_cf_check_finds_problems(site_maps):
    good = prepare_map(site_maps)
    assert check_cf(good) == []
    bad = good.copy()
    bad["nee"] = bad.nee.assign_attrs(units="gC m-2 d-1", cell_methods="time mean")
    bad = bad.isel(lat=slice(None, None, -1))
    bad.attrs.pop("history")
    problems = check_cf(bad)
    assert "global attribute 'history' missing" in problems
    assert any("units 'gC m-2 d-1' are not UDUNITS-parseable" in p for p in problems)
    assert any("cell_methods 'time mean'" in p for p in problems)
    assert "lat: values must be strictly ascending" in problems
    shifted = good.assign_coords(lon=good.lon + 180.0)
    assert any(p.startswith("lon: values outside") for p in check_cf(shifted))
    no_units = good.copy()
    no_units["gpp_nt"] = no_units.gpp_nt.drop_attrs()
    assert "variable 'gpp_nt': 'units' missing" in check_cf(no_units)


@pytest.mark.parametrize(
    ("units", "ok"),
    [
        ("g m-2 d-1", True),
        ("kg m-2 s-1", True),
        ("W m-2", True),
        ("degC", True),
        ("hPa", True),
        ("mm d-1", True),
        ("1", True),
        ("m2", True),
        ("umol m-2 s-1", True),
        ("days since 2000-01-01", True),
        ("gC m-2 d-1", False),
        ("TgC yr-1", False),
        ("", False),
        ("m s-1 foo", False),
    ],
)
def test_parse_units(units, ok):
    assert parse_units(units) is ok


# --------------------------------------------------------------------------- quick looks
def test_mean_annual_nee_png_is_centred_at_zero(site_maps, tmp_path):
    from matplotlib.image import imread

    from fluxgrid.plots import plot_mean_annual_nee

    path = tmp_path / "nee_mean_annual.png"
    fig = plot_mean_annual_nee(site_maps.nee, path=path)
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    mesh = fig.axes[0].collections[0]
    vmin, vmax = mesh.norm.vmin, mesh.norm.vmax
    assert vmin == pytest.approx(-vmax) and vmax > 0
    assert mesh.get_cmap().name == "RdBu_r"
    # the map shows the mean daily rate x 365.25 (real site values)
    expected = site_maps.nee.mean("time").values * 365.25
    np.testing.assert_allclose(
        np.ma.filled(mesh.get_array(), np.nan).reshape(5, 2), expected, rtol=1e-5
    )
    with pytest.raises(OutputExistsError):
        plot_mean_annual_nee(site_maps.nee, path=path)


def test_regional_totals_plot(tmp_path, daily_flux_map):
    from fluxgrid.plots import plot_regional_totals
    from fluxgrid.regions import regional_totals

    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    nee = daily_flux_map(-1.0, grid, "2003-01-01", "2005-12-31", dtype="float64")
    table = regional_totals(
        nee,
        {
            "south": (grid.lat < 1).broadcast_like(grid.lon),
            "all": (grid.lat > -90).broadcast_like(grid.lon),
        },
    )
    path = tmp_path / "sinks.png"
    fig = plot_regional_totals(table, path=path)
    assert path.stat().st_size > 1000
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines[:2]] == ["south", "all"]
    np.testing.assert_allclose(lines[1].get_ydata(), table.sink.sel(region="all").values)
    with pytest.raises(GridError, match="no 'sink'"):
        plot_regional_totals(table.drop_vars("sink"))
