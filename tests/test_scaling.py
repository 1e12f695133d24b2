import json

import numpy as np
import pytest

from fluxgrid.errors import SplitError, UnitError
from fluxgrid.prep.scaling import fit_scaler, load_scaler
from fluxgrid.prep.splits import TEST, TRAIN, random_year_split


def test_fitted_on_training_part_only(demo_cube):
    split = random_year_split(demo_cube, seed=0)
    scaler = fit_scaler(demo_cube, ["ta", "nee"], split=split)
    train = split.part == TRAIN
    ta = demo_cube.ta.where(train).values
    assert scaler.center["ta"] == pytest.approx(np.nanmean(ta), rel=1e-6)
    assert scaler.scale["ta"] == pytest.approx(np.nanstd(ta), rel=1e-5)
    assert scaler.n_values["ta"] == int(np.isfinite(ta).sum())
    # changing the test part does not change the scaler (no leakage)
    tampered = demo_cube.copy(deep=True)
    test = (split.part == TEST).values
    tampered["ta"].values[test] += 100.0
    tampered["nee"].values[test] *= -50.0
    assert fit_scaler(tampered, ["ta", "nee"], split=split) == scaler


def test_refuses_fitting_without_a_split(demo_cube):
    with pytest.raises(SplitError, match="exactly one of split"):
        fit_scaler(demo_cube, ["ta"])


def test_transform_inverse_and_json(demo_cube, tmp_path):
    split = random_year_split(demo_cube, seed=1)
    scaler = fit_scaler(demo_cube, ["ta", "vpd"], split=split, method="minmax")
    scaled = scaler.transform(demo_cube)
    back = scaler.inverse(scaled.vpd, "vpd")
    np.testing.assert_allclose(back.values, demo_cube.vpd.values, rtol=1e-5, atol=1e-4)
    path = scaler.to_json(tmp_path / "scaler.json")
    assert json.loads(path.read_text())["method"] == "minmax"
    assert load_scaler(path) == scaler


def test_units_are_checked(demo_cube):
    split = random_year_split(demo_cube, seed=1)
    scaler = fit_scaler(demo_cube, ["ta"], split=split)
    other = demo_cube.copy()
    other["ta"] = other.ta.assign_attrs(units="K")
    with pytest.raises(UnitError, match="degC"):
        scaler.transform(other)
