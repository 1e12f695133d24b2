"""Cross-site transfer with multi-site pre-training and per-site fine-tuning.

Tiny LSTMs (hidden 4, a few batches per epoch) on the bundled real FLUXNET2015 demo cube
(three towers, 2007-2009).
"""

from __future__ import annotations

import numpy as np
import pytest

from fluxgrid.config import FineTuneConfig, from_dict
from fluxgrid.errors import ConfigError
from fluxgrid.testing import demo_experiment
from fluxgrid.training import cross_site_transfer, fine_tune, fit_model, prepare
from fluxgrid.training.finetune import recurrent_parameters

torch = pytest.importorskip("torch")

SITES = ["US-MMS", "US-UMB", "DE-Hai"]


def _cfg(**over):
    sections = {
        "data": {"sites": SITES, "period": ["2007-01-01", "2009-12-31"]},
        "split": {"val_fraction": 0.34},
        "windows": {"lookback": 15, "static": ["doy"]},
        "model": {"params": {"hidden": 4}},
        "train": {"lr": 0.01, "batch_size": 64, "max_batches_per_epoch": 3},
    }
    return demo_experiment(**{**sections, **over})


@pytest.fixture(scope="module")
def pretrained():
    from fluxgrid.testing import load_demo_cube

    cfg = _cfg()
    p = prepare(cfg, cube=load_demo_cube())
    model, _ = fit_model(p)
    return p, model


def _site_windows(p, site):
    return p.part("train").for_sites([site]), p.part("val").for_sites([site])


def test_freeze_recurrent_keeps_the_recurrence_and_trains_the_head(pretrained):
    p, model = pretrained
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    train, val = _site_windows(p, "US-UMB")
    tuned, history = fine_tune(
        model, p.wcube, train, val, p.config.train, {"mode": "freeze_recurrent"}
    )
    after = tuned.net.state_dict()
    frozen = set(recurrent_parameters(tuned))
    assert frozen == {k for k in after if k.startswith("rnn.")} and frozen
    for name in frozen:
        assert torch.equal(after[name], before[name]), name
    assert not torch.equal(after["head.weight"], before["head.weight"])
    assert history.attrs["fine_tune"] == "freeze_recurrent"
    assert history.attrs["frozen"].split(", ") == sorted(frozen, key=list(after).index)
    # the pre-trained model itself is untouched
    for name, value in model.net.state_dict().items():
        assert torch.equal(value, before[name])


def test_full_fine_tuning_changes_the_recurrence(pretrained):
    p, model = pretrained
    train, val = _site_windows(p, "US-UMB")
    tuned, history = fine_tune(model, p.wcube, train, val, p.config.train, None)
    assert not torch.equal(tuned.net.rnn.weight_hh_l0, model.net.rnn.weight_hh_l0)
    assert history.attrs["fine_tune"] == "full" and history.attrs["frozen"] == ""
    np.testing.assert_allclose(history.lr.values, p.config.train.lr)


def test_low_lr_trains_at_the_lower_rate(pretrained):
    p, model = pretrained
    train, val = _site_windows(p, "DE-Hai")
    fine = FineTuneConfig(mode="low_lr", lr_factor=0.1, epochs=3)
    _tuned, history = fine_tune(model, p.wcube, train, val, p.config.train, fine)
    assert history.sizes["epoch"] <= 3 and history.attrs["lr_factor"] == 0.1
    np.testing.assert_allclose(history.lr.values, 0.1 * p.config.train.lr)
    # the optimiser's steps are smaller than at the full rate, from the same start
    full, _ = fine_tune(model, p.wcube, train, val, p.config.train, {"epochs": 1})
    low, _ = fine_tune(model, p.wcube, train, val, p.config.train, {**vars(fine), "epochs": 1})
    start = model.net.rnn.weight_ih_l0
    step_full = (full.net.rnn.weight_ih_l0 - start).abs().max()
    step_low = (low.net.rnn.weight_ih_l0 - start).abs().max()
    assert 0 < step_low < step_full


def test_freezing_a_model_without_recurrence_is_refused(pretrained):
    p, _ = pretrained
    cfg = _cfg(model={"name": "fnn", "params": {"hidden": [4]}})
    fnn, _ = fit_model(prepare(cfg, cube=p.cube), cfg)
    train, val = _site_windows(p, "US-MMS")
    with pytest.raises(ConfigError, match="has no recurrent layer"):
        fine_tune(fnn, p.wcube, train, val, cfg.train, {"mode": "freeze_recurrent"})


def test_pretrained_transfer_matrix(demo_cube):
    cfg = _cfg()
    fine = {"mode": "low_lr", "lr_factor": 0.5, "epochs": 1}
    matrix, preds, runs = cross_site_transfer(
        cfg, cube=demo_cube, pretrain="all_sites", fine_tune=fine
    )
    assert matrix.r2.dims == ("train_site", "test_site")
    assert matrix.r2.shape == (3, 3)
    assert matrix.train_site.values.tolist() == SITES == matrix.test_site.values.tolist()
    assert (matrix.n > 0).all() and np.isfinite(matrix.rmse).all()
    assert matrix.attrs["pretrain"] == "all_sites" and matrix.attrs["fine_tune"] == "low_lr"
    assert set(preds) == set(runs) == set(SITES)
    for site, run in runs.items():
        assert run.config.data.sites == (site,)
        assert run.config.train.lr == pytest.approx(0.5 * cfg.train.lr)
        assert run.config.train.epochs == 1
        assert run.scaler.variables == runs[SITES[0]].scaler.variables
    # each row is its own fine-tuned model
    a = preds["US-MMS"].pred.sel(site="DE-Hai").values
    b = preds["DE-Hai"].pred.sel(site="DE-Hai").values
    assert not np.allclose(a, b, equal_nan=True)


def test_transfer_options_checked():
    cfg = _cfg()
    with pytest.raises(ConfigError, match="only read with pretrain='all_sites'"):
        cross_site_transfer(cfg, fine_tune={"mode": "full"})
    with pytest.raises(ConfigError, match="expected none or all_sites"):
        cross_site_transfer(cfg, pretrain="everything")
    lasso = _cfg(model={"name": "lasso", "params": {}})
    with pytest.raises(ConfigError, match="fine-tunes a torch model"):
        cross_site_transfer(lasso, pretrain="all_sites")
    with pytest.raises(ConfigError, match="'lr_factor' is not read by mode 'full'"):
        from_dict(FineTuneConfig, {"mode": "full", "lr_factor": 0.5})
    with pytest.raises(ConfigError, match="expected a factor in"):
        from_dict(FineTuneConfig, {"mode": "low_lr", "lr_factor": 1.5})
