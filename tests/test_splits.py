import numpy as np
import pandas as pd
import pytest

from fluxgrid.config.experiment import SplitConfig
from fluxgrid.config.serialise import from_dict
from fluxgrid.errors import ConfigError, SplitError
from fluxgrid.prep.qc import qc_mask
from fluxgrid.prep.splits import (
    TEST,
    TRAIN,
    UNUSED,
    VAL,
    carve_validation,
    igbp_split,
    make_split,
    random_year_split,
    site_kfold_split,
    site_split,
    split_summary,
    temporal_split,
    year_range_split,
)


@pytest.fixture()
def cube(demo_cube):
    clean, _ = qc_mask(demo_cube, threshold=0.7, targets=["nee"], min_valid_fraction=0.0)
    return clean


def _years_of(split, site, code):
    part = split.part.sel(site=site)
    return set(np.unique(part.time.dt.year.values[part.values == code]).tolist())


def test_random_years_whole_years_ratio(cube):
    split = random_year_split(cube, test_fraction=1 / 3, seed=0)
    for site in cube.site.values:
        train, test = _years_of(split, site, TRAIN), _years_of(split, site, TEST)
        assert train and test and not (train & test)
        assert len(test) == 2 and len(train) == 4  # 6 years, ~2:1
        # every day of a year has the same part
        part = split.part.sel(site=site).to_series()
        assert (part.groupby(part.index.year).nunique() == 1).all()


def test_random_years_site_stream_independent_of_other_sites(cube):
    both = random_year_split(cube, seed=3)
    alone = random_year_split(cube.sel(site=["DE-Tha"]), seed=3)
    np.testing.assert_array_equal(both.part.sel(site="DE-Tha"), alone.part.sel(site="DE-Tha"))
    other = random_year_split(cube, seed=4)
    assert not (other.part == both.part).all()


def test_temporal_last_fraction(cube):
    split = temporal_split(cube, test_fraction=0.2)
    valid = cube.nee.notnull()
    for site in cube.site.values:
        part = split.part.sel(site=site).values
        v = valid.sel(site=site).values
        n_test = (v & (part == TEST)).sum()
        assert abs(n_test / v.sum() - 0.2) < 0.01
        last_train = np.flatnonzero(part == TRAIN).max()
        first_test = np.flatnonzero(part == TEST).min()
        assert last_train < first_test


def test_year_ranges_and_overlap_refused(cube):
    split = year_range_split(cube, train_years=(2007, 2010), test_years=(2011, 2012))
    assert _years_of(split, "US-MMS", TRAIN) == {2007, 2008, 2009, 2010}
    assert _years_of(split, "US-MMS", TEST) == {2011, 2012}
    with pytest.raises(SplitError, match="overlap"):
        year_range_split(cube, train_years=(2007, 2011), test_years=(2011, 2012))


def test_year_ranges_with_validation_years(cube):
    split = year_range_split(
        cube, train_years=(2007, 2010), test_years=(2011, 2012), val_years=(2010, 2010)
    )
    # the validation year overlapping the training range leaves training
    assert _years_of(split, "US-MMS", TRAIN) == {2007, 2008, 2009}
    assert _years_of(split, "US-MMS", VAL) == {2010}
    assert _years_of(split, "US-MMS", TEST) == {2011, 2012}
    assert split.attrs["validation"] == "val_years" and split.attrs["val_years"] == "2010,2010"
    # validation years outside the training range are validation too
    split = year_range_split(
        cube, train_years=(2007, 2009), test_years=(2011, 2012), val_years=(2010, 2010)
    )
    assert _years_of(split, "DE-Hai", TRAIN) == {2007, 2008, 2009}
    assert _years_of(split, "DE-Hai", VAL) == {2010}
    with pytest.raises(SplitError, match="val_years \\[2011, 2011\\] overlap test_years"):
        year_range_split(
            cube, train_years=(2007, 2010), test_years=(2011, 2012), val_years=(2011, 2011)
        )
    # nothing is carved on top of named validation years
    with pytest.raises(SplitError, match="already has validation days"):
        carve_validation(split, cube, method="years", fraction=0.25)


def test_make_split_uses_val_years_instead_of_carving(cube):
    cfg = {
        "method": "year_ranges",
        "train_years": [2007, 2010],
        "test_years": [2011, 2012],
        "val_years": [2009, 2010],
    }
    split = make_split(cube, cfg, target="nee")
    carved = make_split(cube, {**cfg, "val_years": None}, target="nee")
    for site in cube.site.values:
        assert _years_of(split, site, VAL) == {2009, 2010}
        assert _years_of(split, site, TRAIN) == {2007, 2008}
        assert _years_of(split, site, TEST) == {2011, 2012}
    # without val_years one random training year per site is carved (validation: years)
    assert carved.attrs["validation"] == "years"
    for site in cube.site.values:
        assert len(_years_of(carved, site, VAL)) == 1
        assert _years_of(carved, site, VAL) <= {2007, 2008, 2009, 2010}


def test_site_and_igbp_splits(cube):
    split = site_split(cube, test_sites=["DE-Hai", "FR-Pue"])
    assert set(split.site.values[(split.part == TEST).any("time").values]) == {"DE-Hai", "FR-Pue"}
    split = igbp_split(cube, test_igbp=["DBF"])
    tested = set(split.site.values[(split.part == TEST).any("time").values])
    assert tested == {"US-MMS", "US-UMB", "DE-Hai"}
    with pytest.raises(SplitError, match="not in the cube"):
        site_split(cube, test_sites=["XX-Nope"])


def test_site_kfold_covers_every_site_once(cube):
    tested = []
    for fold in range(5):
        split = site_kfold_split(cube, n_folds=5, fold=fold, seed=1)
        tested += split.site.values[(split.part == TEST).any("time").values].tolist()
    assert sorted(tested) == sorted(cube.site.values.tolist())


@pytest.mark.parametrize("method", ["years", "tail", "sites"])
def test_validation_carved_from_training_only(cube, method):
    split = random_year_split(cube, seed=0)
    carved = carve_validation(split, cube, method=method, fraction=0.25, seed=0, target="nee")
    before, after = split.part.values, carved.part.values
    assert (after == VAL).any()
    # test and unused days untouched, validation only where training was
    np.testing.assert_array_equal(before == TEST, after == TEST)
    np.testing.assert_array_equal(before == UNUSED, after == UNUSED)
    assert (before[after == VAL] == TRAIN).all()


def test_make_split_from_config_and_summary(cube):
    split = make_split(cube, {"method": "temporal", "validation": "tail"}, target="nee")
    assert split.attrs["method"] == "temporal" and split.attrs["test_fraction"] == 0.2
    summary = split_summary(split, cube)
    assert summary.n_values.dims == ("site", "part")
    assert int(summary.n_values.sum()) == int(cube.nee.notnull().sum())


def test_split_leaving_no_training_data(cube):
    with pytest.raises(SplitError, match="no valid 'nee' value for training"):
        make_split(
            cube,
            {"method": "year_ranges", "train_years": [1995, 1996], "test_years": [2007, 2012]},
        )


def test_split_config_refuses_keys_the_method_does_not_read():
    with pytest.raises(ConfigError, match="'test_sites' is not read by method 'random_years'"):
        from_dict(SplitConfig, {"method": "random_years", "test_sites": ["US-MMS"]})
    with pytest.raises(ConfigError, match="needs train_years"):
        from_dict(SplitConfig, {"method": "year_ranges"})
    with pytest.raises(ConfigError, match="'val_years' is not read by method 'temporal'"):
        from_dict(SplitConfig, {"method": "temporal", "val_years": [2010, 2010]})


def test_split_is_data_and_round_trips_netcdf(cube, tmp_path):
    import xarray as xr

    from fluxgrid.io.store import to_netcdf

    split = make_split(cube, {"method": "random_years", "seed": 2})
    to_netcdf(split, tmp_path / "split.nc")
    back = xr.open_dataset(tmp_path / "split.nc")
    np.testing.assert_array_equal(back.part.values, split.part.values)
    assert back.attrs["method"] == "random_years"
    assert pd.Index(back.site.values).equals(pd.Index(split.site.values))
