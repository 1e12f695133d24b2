"""The ``ds.fluxgrid`` accessor: real signatures, the same as the functions it calls."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest
import xarray as xr

import fluxgrid  # noqa: F401  (registers the accessor)
from fluxgrid.accessor import FluxgridAccessor, delegate
from fluxgrid.config import SplitConfig

# method -> (module, function, position of the dataset among the function's parameters)
DELEGATES = {
    "to_daily": ("fluxgrid.prep.resample", "to_daily", 0),
    "to_monthly": ("fluxgrid.prep.resample", "to_monthly", 0),
    "qc_mask": ("fluxgrid.prep.qc", "qc_mask", 0),
    "select": ("fluxgrid.prep.select", "select_sites", 0),
    "gapfill": ("fluxgrid.prep.gapfill", "gapfill", 0),
    "ssa": ("fluxgrid.prep.ssa", "ssa", 0),
    "to_zarr": ("fluxgrid.io.store", "write_cube", 0),
    "to_netcdf": ("fluxgrid.io.store", "to_netcdf", 0),
    "era5_to_daily": ("fluxgrid.grids", "era5_to_daily", 0),
    "regrid": ("fluxgrid.grids", "regrid", 0),
    "prepare_drivers": ("fluxgrid.grids", "prepare_drivers", 0),
    "regional_sink": ("fluxgrid.regions", "regional_totals", 0),
    "to_map": ("fluxgrid.io.maps", "write_map", 0),
    "add_clearsky": ("fluxgrid.rs.radiation", "add_clearsky", 0),
    "add_s2": ("fluxgrid.rs.sentinel2", "add_s2", 0),
    "add_s1": ("fluxgrid.rs.sentinel1", "add_s1", 0),
    "add_lst": ("fluxgrid.rs.modis", "add_lst", 0),
    "add_gridded": ("fluxgrid.rs.sample", "add_gridded", 0),
    "windows": ("fluxgrid.windows", "build_windows", 0),
    "predict": ("fluxgrid.runs", "predict_with", 1),
    "scores": ("fluxgrid.evaluate", "scores", 0),
    "growing_season": ("fluxgrid.evaluate", "growing_season", 0),
    "upscale": ("fluxgrid.upscale", "upscale", 0),
    "permutation_importance": ("fluxgrid.explain", "permutation_importance", 1),
    "shap_values": ("fluxgrid.explain", "shap_values", 1),
    "attention_summary": ("fluxgrid.explain", "attention_summary", 1),
    "response_surface": ("fluxgrid.explain", "response_surface", 1),
}


def _function(module: str, name: str):
    return getattr(__import__(module, fromlist=[name]), name)


def _public_methods() -> set[str]:
    return {
        n
        for n, v in vars(FluxgridAccessor).items()
        if (callable(v) or isinstance(v, property)) and not n.startswith("_")
    }


def test_every_method_is_checked():
    assert _public_methods() == {*DELEGATES, "split", "climate_extremes"}


@pytest.mark.parametrize("method", sorted(DELEGATES))
def test_method_has_the_signature_of_its_function(method):
    module, name, ds_position = DELEGATES[method]
    function = inspect.signature(_function(module, name))
    expected = list(function.parameters.values())
    del expected[ds_position]
    bound = getattr(xr.Dataset().fluxgrid, method)
    got = list(inspect.signature(bound).parameters.values())
    assert [(p.name, p.kind, p.default, p.annotation) for p in got] == [
        (p.name, p.kind, p.default, p.annotation) for p in expected
    ]
    assert not any(p.kind == p.VAR_KEYWORD for p in got), "explicit parameters, not **kwargs"
    assert bound.__doc__.startswith(_function(module, name).__doc__)
    function_path = f"{_function(module, name).__module__}.{name}"
    assert function_path in getattr(FluxgridAccessor, method).__doc__ or module in (
        getattr(FluxgridAccessor, method).__doc__
    )


def test_delegate_passes_the_dataset_where_the_function_takes_it():
    def combine(run, ds, *, scale=1.0):
        return run, ds, scale

    class Holder:
        method = delegate(combine, dataset=1)

        def __init__(self, ds):
            self._ds = ds

    assert Holder("cube").method("run", scale=2.0) == ("run", "cube", 2.0)
    assert Holder("cube").method(run="run") == ("run", "cube", 1.0)
    with pytest.raises(TypeError):
        Holder("cube").method("run", "another")
    assert list(inspect.signature(Holder("cube").method).parameters) == ["run", "scale"]


def test_split_takes_the_split_config_keys():
    got = inspect.signature(FluxgridAccessor.split).parameters
    fields = {f.name: f.default for f in dataclasses.fields(SplitConfig)}
    assert {n: p.default for n, p in got.items() if n not in ("self", "target")} == fields


def test_delegations_give_the_functions_results(demo_cube):
    from fluxgrid.evaluate import climate_extremes
    from fluxgrid.prep.qc import qc_mask
    from fluxgrid.prep.splits import make_split

    acc = demo_cube.fluxgrid
    masked, report = acc.qc_mask(threshold=0.8, min_valid_fraction=0.1)
    expected, expected_report = qc_mask(demo_cube, threshold=0.8, min_valid_fraction=0.1)
    xr.testing.assert_identical(masked, expected)
    xr.testing.assert_identical(report, expected_report)
    xr.testing.assert_identical(
        acc.split("temporal", test_fraction=0.25),
        make_split(demo_cube, {"method": "temporal", "test_fraction": 0.25}),
    )
    xr.testing.assert_identical(
        acc.climate_extremes("ta", quantile=0.05), climate_extremes(demo_cube.ta, quantile=0.05)
    )


def test_import_fluxgrid_stays_light():
    heavy = "{'torch', 'distributed', 'matplotlib', 'shap'}"
    code = f"import sys, fluxgrid; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
