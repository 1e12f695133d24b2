import numpy as np
import pytest

from fluxgrid.config.experiment import TrainConfig
from fluxgrid.errors import ConfigError, ModelError
from fluxgrid.models import MODELS, get_model
from fluxgrid.models.base import load_model, window_summary
from fluxgrid.prep.qc import qc_mask
from fluxgrid.prep.scaling import fit_scaler
from fluxgrid.prep.splits import carve_validation, random_year_split
from fluxgrid.tensors import WindowCube
from fluxgrid.windows import build_windows, input_features

torch = pytest.importorskip("torch")
DRIVERS = ["ta", "sw_in", "vpd"]
LOOKBACK = 30


@pytest.fixture(scope="module")
def site():
    """US-MMS (real FLUXNET2015, 2007-2012), QC'd NEE, scaled tensors and windows."""
    from fluxgrid.data import load_demo_cube

    cube, _ = qc_mask(
        load_demo_cube().sel(site=["US-MMS"]), threshold=0.7, targets=["nee"], min_valid_fraction=0
    )
    split = carve_validation(random_year_split(cube, seed=0), cube, method="years", fraction=0.25)
    feats = input_features(cube, DRIVERS, static=["doy"])
    scaler = fit_scaler(feats[DRIVERS].assign(nee=cube.nee), [*DRIVERS, "nee"], split=split)
    wc = WindowCube.from_dataset(
        cube, DRIVERS, target="nee", scaler=scaler, features=feats, device="cpu"
    )
    index = build_windows(cube, DRIVERS, "nee", LOOKBACK, split=split, features=feats)
    return wc, index


SMALL = {
    "lstm": {"hidden": 16},
    "gru": {"hidden": 16},
    "rnn": {"hidden": 16},
    "ilstm": {"hidden": 8},
    "fnn": {"hidden": [32]},
    "lasso": {"alpha": 0.01},
    "svr": {"max_train_samples": 500},
    "rf": {"n_estimators": 20, "n_jobs": 1},
}


def test_registry_lists_all_models():
    assert MODELS.names() == sorted(SMALL)
    with pytest.raises(ModelError, match="unknown model 'lstn'; known models: fnn, gru, ilstm"):
        get_model("lstn")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_each_model_learns_on_a_real_site(site, name, tmp_path):
    wc, index = site
    torch.manual_seed(0)
    model = get_model(name)(wc.n_dynamic + wc.n_static, LOOKBACK, **SMALL[name])
    train, val = index.select("train"), index.select("val")
    probe = train.take(np.arange(0, len(train), 4))
    y = wc.target_values()[probe.site_idx, probe.end_idx]

    def mse(m):
        return float(np.mean((m.predict(wc, probe) - y) ** 2))

    cfg = TrainConfig(epochs=2, batch_size=64, max_batches_per_epoch=12, device="cpu", lr=5e-3)
    before = mse(model) if model.kind == "torch" else float(np.var(y))
    history = model.fit(wc, train, val, cfg)
    after = mse(model)
    assert after < before, (name, before, after)
    if model.kind == "torch":
        assert history.sizes["epoch"] == 2
        assert history.train_loss.values[-1] < history.train_loss.values[0]
    # checkpoint round trip gives identical predictions
    path = model.save(tmp_path / ("m.pt" if model.kind == "torch" else "m.pkl"))
    again = load_model(path, device="cpu")
    np.testing.assert_allclose(again.predict(wc, probe), model.predict(wc, probe), rtol=1e-6)
    # callable on a gathered batch tensor
    x, _ = wc.gather(val.site_idx[:16], val.end_idx[:16], LOOKBACK)
    assert tuple(model.predict_batch(x).shape) == (16,)


def test_ilstm_attention_sums_to_one(site):
    wc, index = site
    model = get_model("ilstm")(wc.n_dynamic, LOOKBACK, hidden=8)
    att = model.attention(wc, index.select("test").take(np.arange(200)))
    np.testing.assert_allclose(att.alpha.sum("lag"), 1.0, rtol=1e-5)
    np.testing.assert_allclose(att.beta.sum("variable"), 1.0, rtol=1e-5)
    assert att.variable.values.tolist() == wc.features
    x, _ = wc.gather(index.site_idx[:5], index.end_idx[:5], LOOKBACK)
    y, alpha, beta = model.net(x, return_attention=True)
    assert torch.allclose(y, model.net(x))
    # the mixture mean is sum_n beta_n mu_n: a variable with beta -> 0 cannot matter
    assert alpha.shape == (5, wc.n_dynamic, LOOKBACK) and beta.shape == (5, wc.n_dynamic)


def test_ilstm_variables_have_separate_hidden_rows():
    model = get_model("ilstm")(3, 10, hidden=4)
    net = model.net
    x = torch.randn(2, 10, 3)
    x2 = x.clone()
    x2[:, :, 1] += 1.0  # change variable 1 only
    with torch.no_grad():
        _, a1, _ = net(x, return_attention=True)
        _, a2, _ = net(x2, return_attention=True)
    # temporal attention of the other variables is unaffected (rows do not mix)
    assert torch.allclose(a1[:, [0, 2]], a2[:, [0, 2]])
    assert not torch.allclose(a1[:, 1], a2[:, 1])


def test_params_checked():
    with pytest.raises(ConfigError, match="unknown parameter 'hiden'"):
        get_model("lstm").check_params({"hiden": 3})
    with pytest.raises(ConfigError, match="dropout"):
        get_model("gru")(3, 10, dropout=1.5)
    model = get_model("lstm")(3, 10, hidden=512, layers=5, dropout=0.2)
    assert model.net.rnn.num_layers == 5 and model.net.rnn.hidden_size == 512


def test_wrong_inputs_refused(site):
    wc, index = site
    model = get_model("lstm")(wc.n_dynamic + 2, LOOKBACK, hidden=4)
    with pytest.raises(ModelError, match="expects 7 inputs"):
        model.predict(wc, index)


def test_window_summary_hand_computed():
    x = torch.arange(24.0).reshape(2, 4, 3)
    out = window_summary(x, (1, 2, 0))
    np.testing.assert_allclose(out[0, :3], x[0, -1])
    np.testing.assert_allclose(out[0, 3:6], x[0, -2:].mean(0))
    np.testing.assert_allclose(out[1, 6:], x[1].mean(0))


def test_explain_mode_keeps_predictions_and_gives_gradients(site):
    wc, index = site
    torch.manual_seed(0)
    model = get_model("lstm")(wc.n_dynamic, LOOKBACK, hidden=8, layers=2, dropout=0.5)
    x, _ = wc.gather(index.site_idx[:32], index.end_idx[:32], LOOKBACK)
    expected = model.predict_batch(x)
    x = x.clone().requires_grad_(True)
    model.net.train()
    with model.explain_mode() as net:
        out = net(x)
        out.sum().backward()
    assert torch.allclose(out.detach(), expected, atol=1e-6)
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert model.net.training  # mode restored


def test_ilstm_fused_recurrence_equals_the_per_variable_loop():
    """The fused block-diagonal LSTM and the per-step loop are the same function."""
    from fluxgrid.models.ilstm import IMVTensorLSTM

    torch.manual_seed(0)
    fused = IMVTensorLSTM(4, 6, fused=True)
    loop = IMVTensorLSTM(4, 6, fused=False)
    loop.load_state_dict(fused.state_dict())
    assert fused.fused and not loop.fused
    assert not any(k.startswith("_cell") for k in fused.state_dict())  # checkpoints unchanged
    x = torch.randn(3, 12, 4)
    y_f, a_f, b_f = fused(x, return_attention=True)
    y_l, a_l, b_l = loop(x, return_attention=True)
    torch.testing.assert_close(y_f, y_l, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a_f, a_l, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(b_f, b_l, atol=1e-6, rtol=1e-5)
    y_f.sum().backward()
    y_l.sum().backward()
    for (name, p_f), p_l in zip(fused.named_parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(p_f.grad, p_l.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_ilstm_attention_scores_linear_can_sharpen_tanh_cannot():
    from fluxgrid.models.ilstm import IMVTensorLSTM

    torch.manual_seed(0)
    x = torch.randn(8, 40, 3)
    ratios = {}
    for scores in ("linear", "tanh"):
        net = IMVTensorLSTM(3, 8, scores=scores)
        with torch.no_grad():
            net.alpha_w.mul_(50.0)
            _, alpha, _ = net(x, return_attention=True)
        ratios[scores] = float((alpha.max(-1).values / alpha.min(-1).values).max())
    assert ratios["tanh"] <= float(np.exp(2.0)) + 1e-4  # tanh bounds the scores to [-1, 1]
    assert ratios["linear"] > 100.0


def test_ilstm_mixture_objective_learns_and_gives_posteriors(site):
    wc, index = site
    torch.manual_seed(0)
    model = get_model("ilstm")(wc.n_dynamic, LOOKBACK, hidden=8, objective="mixture")
    assert "log_sigma" in model.net.state_dict()
    train, val = index.select("train"), index.select("val")
    cfg = TrainConfig(epochs=3, batch_size=64, max_batches_per_epoch=15, device="cpu", lr=5e-3)
    x, y = wc.gather(train.site_idx[:256], train.end_idx[:256], LOOKBACK)
    with torch.no_grad():
        nll_before = float(model.training_loss(x, y, None))
    history = model.fit(wc, train, val, cfg)
    assert history.attrs["objective"] == "mixture_nll"
    with torch.no_grad():
        assert float(model.training_loss(x, y, None)) < nll_before
    # the trainer's val_loss is the MSE of the mixture mean, comparable with objective="mean"
    assert np.isfinite(history.val_loss).all()
    att = model.attention(wc, index.select("test").take(np.arange(100)))
    np.testing.assert_allclose(att.posterior.sum("variable"), 1.0, rtol=1e-5)
    # the posterior is the prior beta re-weighted by how well each component explains y
    assert not np.allclose(att.posterior.values, att.beta.values, atol=1e-3)
    mean_model = get_model("ilstm")(wc.n_dynamic, LOOKBACK, hidden=8)
    assert "posterior" not in mean_model.attention(wc, index.select("test").take(np.arange(5)))
    with pytest.raises(ModelError, match="objective='mixture'"):
        mean_model.net.log_components(mean_model.net.mixture(x), y)
    with pytest.raises(ConfigError, match="objective"):
        get_model("ilstm")(3, 10, objective="nll")


def test_lstm_forget_gate_bias_is_a_parameter():
    hidden = 6
    default = get_model("lstm")(3, 10, hidden=hidden, layers=2)
    for layer in (0, 1):  # the forget block (second of i, f, g, o) of every layer
        bias = getattr(default.net.rnn, f"bias_ih_l{layer}").detach()
        assert torch.equal(bias[hidden : 2 * hidden], torch.ones(hidden))
        assert not torch.equal(bias[:hidden], torch.ones(hidden))
    torch.manual_seed(0)
    plain = get_model("lstm")(3, 10, hidden=hidden, forget_bias=None)
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, hidden, batch_first=True)
    assert torch.equal(plain.net.rnn.bias_ih_l0, reference.bias_ih_l0)  # PyTorch's init kept
    assert get_model("lstm")(3, 10, hidden=hidden, forget_bias=2.5).params["forget_bias"] == 2.5
    for bad in (float("nan"), "one", True):
        with pytest.raises(ConfigError, match=f"forget_bias={bad}"):
            get_model("lstm")(3, 10, forget_bias=bad)
    with pytest.raises(ConfigError, match="unknown parameter\\(s\\) \\['forget_bias'\\]"):
        get_model("gru")(3, 10, forget_bias=1.0)


@pytest.mark.parametrize("name", ["lstm", "gru", "ilstm"])
def test_moving_to_the_device_the_weights_are_on_touches_nothing(name, monkeypatch):
    # Dask threads share one model and each task asks for its device: a real move would
    # rebuild a recurrent net's flat weights under another thread's forward pass
    model = get_model(name)(4, 10, hidden=4)
    net_to = model.net.to
    monkeypatch.setattr(model.net, "to", lambda *a, **k: pytest.fail("moved again"))
    assert model.to("cpu") is model and model.to(torch.device("cpu")) is model
    monkeypatch.setattr(model.net, "to", net_to)
    if torch.cuda.is_available():
        assert model.to("cuda").device.type == "cuda"


def test_prediction_leaves_the_network_in_eval_mode():
    # restoring train mode after a prediction would switch dropout on under the forward
    # pass of another thread sharing the model (threaded Dask upscaling)
    model = get_model("lstm")(4, 10, hidden=4, dropout=0.5)
    model.net.train()
    x = torch.randn(8, 10, 4)
    first = model.predict_batch(x)
    assert not model.net.training
    torch.testing.assert_close(model.predict_batch(x), first)
