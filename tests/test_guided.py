"""Scale-guided workflow on two real FLUXNET2015 sites (bundled demo cube, 2007-2012)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fluxgrid.config import from_dict
from fluxgrid.errors import ColumnError, ConfigError, ModelError
from fluxgrid.prep.splits import TEST
from fluxgrid.studies.guided import (
    KINDS,
    GuidedConfig,
    igbp_groups,
    prepare_scales,
    run_guided,
    taylor_statistics,
)
from fluxgrid.testing import load_demo_cube

pytest.importorskip("torch")
SITES = ["US-MMS", "DE-Hai"]


def _config(**over):
    base = {
        "data": {"source": "demo", "sites": SITES, "min_years": 5},
        "seasonal": {"lookback": 30},
        "end_to_end": {"lookback": 60},
        "models": {
            "lstm": {"params": {"hidden": 4}, "train": {"epochs": 1, "max_batches_per_epoch": 3}},
            "lasso": {"params": {"alpha": 0.01}},
        },
        "train": {"device": "cpu", "batch_size": 64, "seed": 0},
    }
    base.update(over)
    return from_dict(GuidedConfig, base)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("guided") / "run"
    return run_guided(_config(), output=out), out


def test_guided_end_to_end_on_two_real_sites(result):
    res, out = result
    assert res.data.groups == {"DBF": SITES}
    assert set(res.runs) == {
        ("DBF", label, scale)
        for label in ("lstm", "lasso")
        for scale in ("seasonal", "interannual", "end_to_end")
    }
    assert res.runs[("DBF", "lstm", "interannual")].lookback == 365  # the default
    assert res.runs[("DBF", "lstm", "interannual")].features == [
        "ta",
        "sw_in",
        "vpd",
        "doy_sin",
        "doy_cos",
        "site_lat",
        "site_lon",
    ]
    assert {k for _, k in res.predictions} == set(KINDS)
    # guided predictions exist on test days only, against the whole-record truth
    p = res.predictions[("lstm", "interannual")]
    has_pred = p.pred.notnull()
    assert bool((p.part.where(has_pred) == TEST).where(has_pred, True).all())
    truth = res.data.truth("interannual")
    xr.testing.assert_allclose(p.obs.where(has_pred), truth.where(has_pred).astype(np.float32))
    # end-to-end predictions cover training days too (they were decomposed whole)
    raw = res.predictions[("lstm", "undecomposed")]
    assert int((raw.pred.notnull() & (raw.part == 1)).sum()) > 0
    table = res.scores()
    assert table.rmse.dims == ("model", "kind")
    assert np.isfinite(table.rmse.values).all()
    assert (table.n.sel(kind="interannual") > 300).all()
    by_igbp = res.scores(by="igbp")
    assert by_igbp.r2.dims == ("model", "kind", "igbp")
    cross = res.cross_scale()
    assert cross.r2.dims == ("model", "trained_on", "scored_on")
    assert float(cross.rmse.sel(model="lstm", trained_on="seasonal", scored_on="seasonal")) == (
        pytest.approx(float(table.rmse.sel(model="lstm", kind="seasonal")))
    )
    stats = res.taylor("lstm")
    assert set(stats.case.values.tolist()) == set(KINDS)
    for name in ("config.yaml", "scores.csv", "scores_igbp.csv", "cross_scale.csv", "groups.json"):
        assert (out / name).is_file()
    assert (out / "predictions" / "lstm_interannual_end_to_end.nc").is_file()


def test_seed_ensemble_scored_beside_the_single_model(tmp_path):
    from fluxgrid.errors import DataNotFoundError
    from fluxgrid.studies.guided import load_guided

    cfg = _config(ensemble={"seeds": [0, 1]}, ensemble_models=["lstm"], cross_scale=False)
    res = run_guided(cfg, output=tmp_path / "run")
    assert res.labels == ["lstm", "lasso", "lstm_x2"]
    members = res.members[("DBF", "lstm", "interannual")]
    assert list(members) == [0, 1]
    assert members[0][0] is res.runs[("DBF", "lstm", "interannual")]  # seed 0: the single run
    assert members[1][0].config.train.seed == 1
    single = res.predictions[("lstm", "interannual")]
    ens = res.predictions[("lstm_x2", "interannual")]
    xr.testing.assert_allclose(ens.pred_member.sel(member=0, drop=True), single.pred)
    other = members[1][0].predict(res.data.scale_cube("interannual", "test"), split=res.data.split)
    both = ens.pred.notnull()
    np.testing.assert_allclose(
        ens.pred.where(both).values,
        ((single.pred + other.pred.where(single.pred.notnull())) / 2).where(both).values,
        atol=1e-4,
    )
    assert not np.allclose(other.pred.where(both).fillna(0), single.pred.where(both).fillna(0))
    table = res.scores()
    assert table.model.values.tolist() == ["lstm", "lasso", "lstm_x2"]
    assert np.isfinite(table.rmse.sel(model="lstm_x2")).all()
    assert (tmp_path / "run/models/DBF/lstm_seasonal/members/seed1/model.pt").is_file()
    assert not (tmp_path / "run/models/DBF/lstm_seasonal/members/seed0").exists()
    back = load_guided(tmp_path / "run", device="cpu")
    xr.testing.assert_allclose(back.scores(), table)
    assert back.members[("DBF", "lstm", "end_to_end")][1][0].config.train.seed == 1
    with pytest.raises(DataNotFoundError, match="explain its model's label"):
        res.contributions("lstm_x2")


def test_ensemble_settings_checked():
    with pytest.raises(ConfigError, match="not labels of models"):
        _config(ensemble={"seeds": [0, 1]}, ensemble_models=["gru"])
    with pytest.raises(ConfigError, match=r"set ensemble\.seeds"):
        _config(ensemble_models=["lstm"])
    with pytest.raises(ConfigError, match="labels of seed ensembles"):
        _config(
            ensemble={"seeds": [0, 1]},
            models={"lstm": {}, "lstm_x2": {"name": "lstm"}},
        )


def test_result_prints_a_summary(result):
    res, _out = result
    text = repr(res)
    assert text.startswith("GuidedResult(nee of 2 sites in 1 group(s): DBF 2")
    assert "models: lstm, lasso" in text and "(6 trained runs" in text
    assert len(text.splitlines()) == 4  # a summary, not the data


def test_saved_scale_models_load_and_predict_the_same(result):
    from fluxgrid.runs import load_run

    res, out = result
    run = load_run(out / "models" / "DBF" / "lstm_interannual", device="cpu")
    assert run.inputs["scale"] == "interannual"
    ds = res.data.scale_cube("interannual", "test")
    again = run.predict(ds, split=res.data.split)
    want = res.predictions[("lstm", "interannual")].pred
    both = want.notnull()
    np.testing.assert_allclose(again.pred.where(both).values, want.where(both).values, atol=1e-4)


def test_saved_result_loads_back(result):
    from fluxgrid.errors import DataNotFoundError
    from fluxgrid.studies.guided import load_guided

    res, out = result
    back = load_guided(out, device="cpu")
    assert back.data.groups == res.data.groups and set(back.runs) == set(res.runs)
    assert set(back.predictions) == set(res.predictions)
    xr.testing.assert_allclose(back.scores(), res.scores())
    xr.testing.assert_allclose(back.cross_scale(), res.cross_scale())
    assert back.seconds == pytest.approx(res.seconds)
    # the rebuilt scale cubes feed the loaded models as in the run
    run = back.runs[("DBF", "lstm", "seasonal")]
    again = run.predict(back.data.scale_cube("seasonal", "test"), split=back.data.split)
    want = res.predictions[("lstm", "seasonal")].pred
    both = want.notnull() & again.pred.notnull()
    assert int(both.sum()) > 300
    np.testing.assert_allclose(again.pred.where(both).values, want.where(both).values, atol=1e-4)
    # data that no longer give the saved splits are refused
    changed = load_demo_cube()
    late = (changed.site == "US-MMS") & (changed.time > np.datetime64("2012-10-31"))
    changed["nee"] = changed["nee"].where(~late)  # a shorter record moves the test period
    with pytest.raises(DataNotFoundError, match="split differs"):
        load_guided(out, cube=changed)
    with pytest.raises(DataNotFoundError, match="not a guided result folder"):
        load_guided(out / "predictions")


def test_training_data_never_see_the_test_period():
    """Test-period values changed (validity kept, so the split is the same): the training
    components are unchanged with ``train_separately``, and changed with ``whole_record``."""
    cube = load_demo_cube().sel(site=SITES)
    cfg = _config()
    a = prepare_scales(cfg, cube=cube)
    before = (a.split.part != TEST).cumprod("time").astype(bool)  # days before the test part
    after = ~before
    changed = cube.copy(deep=True)
    for name in ("nee", "ta", "sw_in", "vpd"):
        changed[name] = changed[name].where(before, changed[name] * 1.5 + 1.0)
    b = prepare_scales(cfg, cube=changed)
    xr.testing.assert_identical(a.split, b.split)
    for scale in ("seasonal", "interannual"):
        ta, tb = a.scale_cube(scale, "train"), b.scale_cube(scale, "train")
        for name in ("nee", "ta", "vpd"):
            np.testing.assert_array_equal(ta[name].values, tb[name].values)
        # the whole-record decomposition (test inputs, truth) does see them
        assert not np.allclose(
            a.whole.ta.sel(component=scale).where(after).fillna(0).values,
            b.whole.ta.sel(component=scale).where(after).fillna(0).values,
        )
    whole_cfg = _config(scales={"decompose": "whole_record"})
    c = prepare_scales(whole_cfg, cube=cube)
    d = prepare_scales(whole_cfg, cube=changed)
    tc, td = c.scale_cube("interannual", "train"), d.scale_cube("interannual", "train")
    assert not np.allclose(tc.ta.fillna(0).values, td.ta.fillna(0).values)


def test_scale_cubes_and_components(result):
    res, _ = result
    data = res.data
    test = data.scale_cube("seasonal", "test")
    assert test.nee.attrs["units"] == data.cube.nee.attrs["units"]
    # target components only on QC-valid days; training cube never on test days
    assert not bool((test.nee.notnull() & ~data.valid).any())
    train = data.scale_cube("interannual", "train")
    assert not bool((train.nee.notnull() & (data.split.part == TEST)).any())
    # the components add back to the series
    total = data.whole.ta.sum("component")
    np.testing.assert_allclose(
        total.values, data.cube.ta.transpose("site", "time").values, atol=1e-3
    )
    with pytest.raises(ConfigError, match="scale 'annual'"):
        data.scale_cube("annual")


def test_bad_input():
    cube = load_demo_cube().sel(site=SITES)
    # SSA window longer than half of a record
    with pytest.raises(ConfigError, match="longer than half the series"):
        prepare_scales(_config(scales={"window": 1500}), cube=cube)
    with pytest.raises(ConfigError, match=r"share must be in \(0, 0.5\]"):
        _config(scales={"window": 0.7})
    # a long driver gap that filling is told to leave
    holes = cube.copy(deep=True)
    holes["ta"][0, 400:460] = np.nan
    with pytest.raises(ColumnError, match="gaps left after filling at 1 site"):
        prepare_scales(_config(scales={"long_gaps": "none"}), cube=holes)
    with pytest.raises(ModelError, match="unknown model 'lstn'"):
        _config(models={"lstn": {}})
    with pytest.raises(ConfigError, match=r"models\.lstm: .*unknown"):
        _config(models={"lstm": {"params": {"hiden": 3}}})
    with pytest.raises(ConfigError, match=r"models\.lstm: .*unknown"):
        _config(models={"lstm": {"train": {"epoch": 3}}})


def test_igbp_groups_and_taylor_statistics():
    cube = load_demo_cube()
    assert igbp_groups(cube) == {
        "DBF": ["US-MMS", "US-UMB", "DE-Hai"],
        "EBF": ["FR-Pue"],
        "ENF": ["DE-Tha"],
    }
    assert igbp_groups(cube, mode="pooled") == {"all": cube.site.values.tolist()}
    p = xr.Dataset({"obs": cube.gpp_nt, "pred": cube.gpp_dt})
    stats = taylor_statistics({"a": p}, part=None)
    o, q = cube.gpp_nt.values.ravel(), cube.gpp_dt.values.ravel()
    ok = np.isfinite(o) & np.isfinite(q)
    assert float(stats.r.sel(case="a")) == pytest.approx(np.corrcoef(o[ok], q[ok])[0, 1])
    assert float(stats.sd_obs.sel(case="a")) == pytest.approx(o[ok].std())
    crmsd2 = stats.sd_obs**2 + stats.sd_pred**2 - 2 * stats.sd_obs * stats.sd_pred * stats.r
    np.testing.assert_allclose(stats.crmsd.values**2, crmsd2.values, rtol=1e-6)


def test_shap_contributions_per_scale(result):
    from fluxgrid.explain import relative_contribution

    res, _ = result
    contrib = res.contributions("lstm", max_windows=20, background=4, steps=8)
    assert set(contrib) == {"end_to_end", "seasonal", "interannual"}
    share = relative_contribution(contrib["interannual"], by="igbp", drivers=["ta", "sw_in", "vpd"])
    np.testing.assert_allclose(share.sum("driver").values, 100.0, rtol=1e-5)
    assert contrib["interannual"].sizes["lag"] == 365


def test_recipe_smoke(tmp_path):
    """recipes/scale_guided.yaml runs (data and training budget shrunk for the test)."""
    import dataclasses
    from pathlib import Path

    from fluxgrid.recipe import RecipeContext, load_recipe

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "scale_guided.yaml"
    module, cfg, raw = load_recipe(recipe)
    assert raw["recipe"] == "scale_guided" and cfg.interannual.lookback == 365
    small = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, sites=tuple(SITES)),
        models={"lasso": cfg.models["lasso"]},
        train=dataclasses.replace(cfg.train, device="cpu"),
    )
    ctx = RecipeContext(output=tmp_path)
    paths = module.run(small, ctx)
    assert Path(paths["scores"]).is_file()
    assert Path(paths["lasso_taylor"]).stat().st_size > 1000
    again = module.run(small, ctx)  # resumes: the finished result is skipped
    assert again["scores"] == paths["scores"]
    assert any("skip" in line for line in ctx.log)
