"""Written maps pass the IOOS compliance checker (CF-1.8) with no error."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.grids import make_grid
from fluxgrid.io.maps import open_map, write_map
from fluxgrid.regions import cell_area


@pytest.fixture()
def ensemble_maps() -> xr.Dataset:
    g = make_grid(0.5, bbox=(2, 43, 5, 46))
    time = pd.date_range("2011-01-01", periods=5)
    rng = np.random.default_rng(0)
    shape = (time.size, g.sizes["lat"], g.sizes["lon"])
    flux = {"units": "gC m-2 d-1"}
    values = rng.normal(-1.0, 0.5, shape).astype("float32")
    values[:, 0, 0] = np.nan  # a sea cell
    return xr.Dataset(
        {
            "nee_mean": (("time", "lat", "lon"), values, flux),
            "nee_std": (("time", "lat", "lon"), np.abs(values) / 4, flux),
            "gpp_nt": (("time", "lat", "lon"), np.abs(values) * 3, flux),
            "ta": (("time", "lat", "lon"), np.full(shape, 12.0, "float32"), {"units": "degC"}),
        },
        coords={"time": time, "lat": g.lat, "lon": g.lon},
    )


def test_written_map_has_no_cf_errors(tmp_path, ensemble_maps, cf_checker_errors):
    path = write_map(ensemble_maps, tmp_path / "maps.nc", model={"name": "lstm"})
    assert cf_checker_errors(path) == []
    with netCDF4.Dataset(path) as nc:
        # CF 2.5.1: no _FillValue on coordinates or their bounds
        for name in ("time", "time_bnds", "lat", "lon", "lat_bnds", "lon_bnds"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        assert nc["nee_mean"].cell_measures == "area: cell_area"
        assert nc["cell_area"].standard_name == "cell_area" and nc["cell_area"].units == "m2"


def test_cell_area_is_stored_and_read_back_as_a_coordinate(tmp_path, ensemble_maps):
    path = write_map(ensemble_maps, tmp_path / "maps.nc")
    maps = open_map(path)
    assert "cell_area" in maps.coords and "cell_area" not in maps.data_vars
    np.testing.assert_allclose(maps.cell_area.values, cell_area(ensemble_maps).values, rtol=1e-12)


def test_an_old_style_map_fails_the_checker(tmp_path, ensemble_maps, cf_checker_errors):
    # the check can fail: a _FillValue on time (what maps had before) is an error
    path = write_map(ensemble_maps, tmp_path / "maps.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc.renameVariable("time", "time_old")
        t = nc.createVariable("time", "f8", ("time",), fill_value=np.nan)
        t[:] = nc["time_old"][:]
        t.setncatts({k: nc["time_old"].getncattr(k) for k in nc["time_old"].ncattrs()})
    errors = cf_checker_errors(path)
    assert any("_FillValue" in e for e in errors), errors
