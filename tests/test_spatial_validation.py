"""Spatial validation: every tower predicted once, by the model of its fold, as a map cell."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fluxgrid
from fluxgrid.cli import main
from fluxgrid.config.experiment import ExperimentConfig
from fluxgrid.config.serialise import dump_config, from_dict
from fluxgrid.errors import ConfigError
from fluxgrid.upscale.validation import open_validation, validate_upscaling


def _config_dict(model: dict) -> dict:
    return {
        "data": {"source": "demo", "drivers": ["ta", "sw_in", "vpd"], "target": "nee"},
        "windows": {"lookback": 30, "static": ["doy", "latlon", "igbp"]},
        "model": model,
        "train": {"epochs": 1, "batch_size": 512},
    }


def _config(model: dict) -> ExperimentConfig:
    return from_dict(ExperimentConfig, _config_dict(model))


@pytest.fixture(scope="module")
def lstm_validation(tmp_path_factory):
    from fluxgrid.testing import load_demo_cube

    out = tmp_path_factory.mktemp("validation") / "lstm"
    cfg = _config({"name": "lstm", "params": {"hidden": 8}})
    return validate_upscaling(cfg, output=out, n_folds=2, cube=load_demo_cube())


@pytest.mark.slow
def test_every_tower_is_held_out_once_and_predicted_as_its_run_does(lstm_validation):
    v = lstm_validation
    fold = v.predictions["fold"].values
    assert sorted(np.unique(fold).tolist()) == [0, 1] and fold.size == 5
    # the three DBF towers are spread over both folds (stratified by IGBP)
    dbf = v.predictions["igbp"].values.astype(str) == "DBF"
    assert len(np.unique(fold[dbf])) == 2
    for k in (0, 1):
        run_pred = xr.load_dataset(v.folder / "folds" / f"fold{k}" / "predictions.nc")["pred"]
        held = v.predictions.site.values[fold == k]
        ours, theirs = v.predictions["pred"].sel(site=held), run_pred.sel(site=held)
        # the upscaling kernel gives the same numbers as the run's own prediction
        np.testing.assert_allclose(ours.values, theirs.values, atol=1e-5, equal_nan=True)
        assert np.isfinite(ours).sum() > 1000
        # the fold run predicted its held-out (test) towers only
        assert np.isnan(run_pred.drop_sel(site=held).values).all()


@pytest.mark.slow
def test_scores_are_written_and_read_back(lstm_validation):
    v = lstm_validation
    for by in ("pooled", "fold", "site", "igbp"):
        assert (v.folder / f"scores_{by}.csv").exists()
    assert v.scores("igbp").index.tolist() == ["DBF", "EBF", "ENF"]
    assert v.scores("site")["n"].sum() == v.scores("pooled")["n"].iloc[0]
    again = open_validation(v.folder)
    np.testing.assert_allclose(again.scores("site")["r2"], v.scores("site")["r2"])
    assert "5 towers in 2 folds" in repr(again)
    # the reader stands beside validate_upscaling at the top level
    assert fluxgrid.open_validation is open_validation


@pytest.mark.slow
def test_cli_with_a_random_forest(tmp_path, capsys):
    cfg = tmp_path / "rf.yaml"
    dump_config(_config({"name": "rf", "params": {"n_estimators": 10}}), cfg)
    assert main(["validate-upscaling", str(cfg), "-o", str(tmp_path / "rf"), "--folds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "held-out towers, pooled (nee)" in printed and "DBF" in printed
    assert main(["validate-upscaling", str(cfg), "-o", str(tmp_path / "rf"), "--folds", "2"]) == 2


def test_more_folds_than_towers_is_refused(tmp_path):
    from fluxgrid.testing import load_demo_cube

    cfg = _config({"name": "rf"})
    with pytest.raises(ConfigError, match="only 5 towers have 'nee' data"):
        validate_upscaling(cfg, output=tmp_path / "v", n_folds=6, cube=load_demo_cube())
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
def test_ensemble_folds_predict_the_member_mean(tmp_path):
    from fluxgrid.testing import load_demo_cube

    cfg = from_dict(
        ExperimentConfig,
        {
            **_config_dict({"name": "lstm", "params": {"hidden": 8}}),
            "ensemble": {"seeds": [0, 1]},
        },
    )
    v = validate_upscaling(cfg, output=tmp_path / "ens", n_folds=2, cube=load_demo_cube())
    assert v.members == [0, 1]
    members = v.predictions["pred_member"]
    np.testing.assert_allclose(v.predictions["pred"], members.mean("member"), rtol=1e-6)
    assert float(v.predictions["pred_std"].mean()) > 0  # the seeds differ
    fold = v.predictions["fold"].values
    for k in (0, 1):
        held = v.predictions.site.values[fold == k]
        seed1 = xr.load_dataset(v.folder / "folds" / f"fold{k}" / "members/seed1/predictions.nc")
        ours = v.member(1).predictions["pred"].sel(site=held)
        np.testing.assert_allclose(ours, seed1["pred"].sel(site=held), atol=1e-5, equal_nan=True)
    assert "pred_member" not in v.member(0).predictions
    table = v.member_scores()
    assert table.index.tolist() == [0, 1]
    assert table.loc[1, "r2"] == v.member(1).scores().loc["pooled", "r2"]
    again = open_validation(v.folder)
    assert again.members == [0, 1]
    with pytest.raises(ConfigError, match="members are \\[0, 1\\]"):
        v.member(5)


@pytest.mark.slow
def test_cli_prints_each_member_of_an_ensemble(tmp_path, capsys):
    cfg = tmp_path / "ens.yaml"
    lstm = _config_dict({"name": "lstm", "params": {"hidden": 4}})
    dump_config(from_dict(ExperimentConfig, {**lstm, "ensemble": {"seeds": [0, 1]}}), cfg)
    assert main(["validate-upscaling", str(cfg), "-o", str(tmp_path / "v"), "--folds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "each of the 2 members alone, pooled" in printed
    assert "seed 0" in printed and "seed 1" in printed


@pytest.mark.slow
def test_single_model_folds_have_no_members(lstm_validation):
    assert lstm_validation.members == []
    with pytest.raises(ConfigError, match="single models, not ensembles"):
        lstm_validation.member_scores()
    with pytest.raises(ConfigError, match="none \\(no ensemble\\)"):
        lstm_validation.member(0)
