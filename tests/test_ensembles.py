"""Seed ensembles: member run directories, mean and spread, scores, load_run, upscaling.

Members are tiny LSTMs (hidden 4, 2 epochs of a few batches) trained on the bundled real
FLUXNET2015 demo cube (two towers, 2007-2009).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.cli import main
from fluxgrid.config import to_dict
from fluxgrid.errors import ConfigError, DataNotFoundError
from fluxgrid.evaluate import METRICS, scores
from fluxgrid.grids import IGBP_CLASSES
from fluxgrid.runs import ensemble_members, load_ensemble, load_run
from fluxgrid.testing import demo_experiment
from fluxgrid.training import train_experiment
from fluxgrid.training.ensemble import member_spread
from fluxgrid.upscale import upscale

torch = pytest.importorskip("torch")

SEEDS = (3, 7)


def _cfg(**over):
    sections = {
        "windows": {"lookback": 15},
        "model": {"params": {"hidden": 4}},
        "train": {"max_batches_per_epoch": 3},
        "ensemble": {"seeds": list(SEEDS)},
    }
    return demo_experiment(**{**sections, **over})


@pytest.fixture(scope="module")
def cube():
    from fluxgrid.testing import load_demo_cube

    return load_demo_cube().sel(time=slice("2007-01-01", "2009-12-31"))


@pytest.fixture(scope="module")
def ens_dir(tmp_path_factory, cube):
    return train_experiment(_cfg(), output=tmp_path_factory.mktemp("ens") / "lstm", cube=cube)


def test_members_are_normal_run_directories(ens_dir):
    members = ensemble_members(ens_dir)
    assert [m.relative_to(ens_dir).as_posix() for m in members] == [
        f"members/seed{s}" for s in SEEDS
    ]
    info = json.loads((ens_dir / "ensemble.json").read_text())
    assert info["seeds"] == list(SEEDS) and info["model"] == "lstm"
    for seed, member in zip(SEEDS, members, strict=True):
        assert {"config.yaml", "model.pt", "predictions.nc", "metrics.csv"} <= {
            p.name for p in member.iterdir()
        }
        run = load_run(member, device="cpu")
        assert run.config.train.seed == seed and run.config.ensemble.seeds == ()
    runs = load_ensemble(ens_dir, device="cpu")
    w0 = next(iter(runs[0].model.net.state_dict().values()))
    w1 = next(iter(runs[1].model.net.state_dict().values()))
    assert not torch.equal(w0, w1)  # different seeds, different members
    # every member shares the ensemble's split
    split = xr.open_dataset(ens_dir / "split.nc")
    for member in members:
        np.testing.assert_array_equal(
            xr.open_dataset(member / "split.nc").part.values, split.part.values
        )


def test_mean_and_spread_of_the_members(ens_dir):
    ens = xr.open_dataset(ens_dir / "predictions.nc")
    stack = np.stack(
        [xr.open_dataset(m / "predictions.nc").pred.values for m in ensemble_members(ens_dir)]
    )
    assert ens.pred_member.dims == ("member", "site", "time")
    assert ens.member.values.tolist() == list(SEEDS)
    np.testing.assert_allclose(ens.pred_member.values, stack, rtol=0, atol=0)
    np.testing.assert_allclose(ens.pred.values, stack.mean(0), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(
        ens.pred_std.values, stack.std(0, ddof=1), rtol=1e-5, atol=1e-7, equal_nan=True
    )
    assert float(ens.pred_std.max()) > 0
    assert ens.pred.attrs["units"] == ens.pred_std.attrs["units"] == "gC m-2 d-1"
    assert {"obs", "part"} <= set(ens.data_vars)


def test_scores_of_the_mean_and_of_each_member(ens_dir):
    ens = xr.open_dataset(ens_dir / "predictions.nc")
    table = pd.read_csv(ens_dir / "metrics.csv", index_col=0)
    assert float(table.loc["test", "r2"]) == pytest.approx(float(scores(ens, part="test").r2))
    members = pd.read_csv(ens_dir / "members.csv", index_col=[0, 1])
    assert members.index.names == ["seed", "part"]
    assert sorted(set(members.index.get_level_values("seed"))) == sorted(SEEDS)
    assert set(METRICS) <= set(members)
    for seed, member in zip(SEEDS, ensemble_members(ens_dir), strict=True):
        own = pd.read_csv(member / "metrics.csv", index_col=0)
        assert members.loc[(seed, "test"), "rmse"] == pytest.approx(own.loc["test", "rmse"])
    spread = member_spread(members)
    r2 = members.xs("test", level="part").r2
    assert spread.loc["test", "r2_mean"] == pytest.approx(r2.mean())
    assert spread.loc["test", "r2_sd"] == pytest.approx(r2.std(ddof=1))
    assert spread.loc["test", "r2_min"] <= spread.loc["test", "r2_max"]


def test_load_run_on_an_ensemble_points_to_its_members(ens_dir):
    with pytest.raises(DataNotFoundError, match=r"ensemble of 2 runs.*members"):
        load_run(ens_dir)


def test_upscale_takes_the_ensemble_directory_as_its_members(ens_dir, cube):
    site = cube.sel(site=["US-MMS"], time=slice("2009-01-01", "2009-02-28"))
    grid = xr.Dataset(
        {
            v: (
                ("time", "lat", "lon"),
                site[v].transpose("time", "site").values[:, :, None].astype("float32"),
                {"units": site[v].attrs["units"]},
            )
            for v in ("ta", "sw_in", "vpd")
        },
        coords={
            "time": site.time.values,
            "lat": [float(site.latitude.values[0])],
            "lon": [float(site.longitude.values[0])],
        },
    )
    codes = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}
    igbp = xr.DataArray(
        np.full((1, 1), codes["DBF"], dtype="int16"),
        dims=("lat", "lon"),
        coords={"lat": grid.lat, "lon": grid.lon},
    )
    maps = upscale(grid, ens_dir, igbp=igbp)
    assert {"nee_mean", "nee_std"} <= set(maps.data_vars)
    assert maps.attrs["model_members"] == 2
    single = [upscale(grid, m, igbp=igbp).nee.values for m in ensemble_members(ens_dir)]
    np.testing.assert_allclose(
        maps.nee_mean.values, np.mean(single, axis=0), rtol=1e-5, equal_nan=True
    )
    assert np.isfinite(maps.nee_mean.values[-1]).all()


def test_ensemble_config_checked_at_load_time():
    with pytest.raises(ConfigError, match="at least two seeds"):
        _cfg(ensemble={"seeds": [1]})
    with pytest.raises(ConfigError, match="repeat a seed"):
        _cfg(ensemble={"seeds": [1, 1]})
    with pytest.raises(ConfigError, match="run the search alone first"):
        _cfg(search={"method": "grid", "space": {"model.hidden": {"choices": [4, 8]}}})
    assert _cfg(ensemble={}).ensemble.seeds == ()


def test_cli_train_prints_the_ensemble_and_the_member_spread(tmp_path, capsys):
    import yaml

    cfg = to_dict(_cfg(model={"name": "rf", "params": {"n_estimators": 5, "n_jobs": 1}}))
    cfg["data"]["period"] = ["2007-01-01", "2009-12-31"]
    path = tmp_path / "ens.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "-o", str(tmp_path / "ens")]) == 0
    out = capsys.readouterr().out
    assert "ensemble of 2 members, scores of the member mean" in out
    assert "spread of the 2 members' scores" in out and "r2_sd" in out
    assert (tmp_path / "ens" / "members" / "seed7" / "model.pkl").is_file()
