"""When progress bars show, that the long steps draw them, and the CLI's logging switches."""

from __future__ import annotations

import logging
import sys
import types

import dask
import numpy as np
import pytest

import fluxgrid
import fluxgrid.cli as cli
from fluxgrid import _progress
from fluxgrid._progress import (
    ENV_VAR,
    compute_with_progress,
    counter,
    in_notebook,
    progress_enabled,
    set_progress,
    track,
)
from fluxgrid.errors import ConfigError


@pytest.fixture(autouse=True)
def _automatic(monkeypatch):
    """Every test starts from the automatic rules, with neither variable set."""
    set_progress(None)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("CI", raising=False)
    yield
    set_progress(None)


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _fake_kernel(monkeypatch):
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", ipython)


def test_terminal_shows_pipe_does_not(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert progress_enabled()
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    assert not progress_enabled()
    assert progress_enabled(True)  # an explicit show wins


def test_notebook_shows_although_stderr_is_no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    assert not in_notebook() or "ipykernel" in sys.modules
    _fake_kernel(monkeypatch)
    assert in_notebook()
    assert progress_enabled()
    # a plain IPython terminal (no kernel) is not a notebook
    sys.modules["IPython"].get_ipython = lambda: types.SimpleNamespace()
    assert not in_notebook()


def test_ci_hides_and_the_switches_win(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    _fake_kernel(monkeypatch)
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled()
    monkeypatch.setenv(ENV_VAR, "1")  # the variable overrides CI
    assert progress_enabled()
    monkeypatch.setenv(ENV_VAR, "off")
    monkeypatch.delenv("CI")
    assert not progress_enabled()
    set_progress(True)  # the call overrides the variable
    assert progress_enabled()
    assert fluxgrid.set_progress is set_progress
    set_progress(None)
    monkeypatch.setenv("CI", "0")  # CI=0 / false means not CI
    monkeypatch.delenv(ENV_VAR)
    assert progress_enabled()


def test_bad_switch_values_are_errors(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "sometimes")
    with pytest.raises(ConfigError, match=r"FLUXGRID_PROGRESS='sometimes'.*0/false/off"):
        progress_enabled()
    with pytest.raises(ConfigError, match="True, False or None"):
        set_progress("yes")  # type: ignore[arg-type]


def test_track_and_counter_draw_on_stderr(capsys):
    assert list(track(range(4), desc="steps here", show=True)) == [0, 1, 2, 3]
    with counter(2, desc="trials here", show=True) as bar:
        bar.update(1)
        bar.update(1)
    err = capsys.readouterr().err
    assert "steps here" in err and "4/4" in err
    assert "trials here" in err and "2/2" in err
    assert list(track([1, 2], desc="hidden", show=False)) == [1, 2]
    with counter(1, desc="hidden", show=False) as bar:
        bar.update(1)
    assert "hidden" not in capsys.readouterr().err


def test_dask_bar(capsys):
    import time

    def slow(x):
        time.sleep(1.3)  # longer than the bar's 1 s delay
        return x + 1

    value = compute_with_progress(dask.delayed(slow)(1), show=True, label="computing here")
    assert value == 2
    assert "computing here" in capsys.readouterr().err
    assert compute_with_progress(dask.delayed(slow)(2), show=False, label="quiet") == 3
    assert "quiet" not in capsys.readouterr().err


def _lasso_run():
    from fluxgrid.config import from_dict
    from fluxgrid.config.experiment import ExperimentConfig
    from fluxgrid.prep.pipeline import load_data
    from fluxgrid.runs import TrainedRun
    from fluxgrid.testing import load_demo_cube
    from fluxgrid.training import fit_model, prepare_from_cube

    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "sites": ["US-MMS"], "drivers": ["ta", "sw_in", "vpd"]},
            "split": {"method": "temporal", "test_fraction": 0.2, "validation": "tail"},
            "windows": {"lookback": 10},
            "model": {"name": "lasso", "params": {"alpha": 0.01}},
            "train": {"device": "cpu", "seed": 0},
        },
    )
    ds, _ = load_data(cfg.data, cube=load_demo_cube())
    prepared = prepare_from_cube(cfg, ds)
    model, _ = fit_model(prepared, progress=False)
    return TrainedRun.from_prepared(prepared, model), ds


def test_explanations_draw_bars(capsys):
    pytest.importorskip("torch")
    from fluxgrid.explain import permutation_importance, response_surface

    run, ds = _lasso_run()
    capsys.readouterr()
    imp = permutation_importance(run, ds, "test", n_repeats=2, progress=True)
    assert "permutation importance" in capsys.readouterr().err
    quiet = permutation_importance(run, ds, "test", n_repeats=2, progress=False)
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(imp.importance, quiet.importance)  # the bar changes nothing
    response_surface(run, ds, "test", progress=True)
    assert "response surface" in capsys.readouterr().err


def test_cli_configures_logging_and_restores_it(monkeypatch, capsys):
    seen = {}
    log = logging.getLogger("fluxgrid.test")

    def command(args):
        seen["progress"] = progress_enabled()
        log.debug("a debug line")
        log.info("an info line")
        log.warning("a warning line")
        return 0

    monkeypatch.setattr(cli, "_runner", lambda target: command)
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # captured stream of this test
    handlers = list(logging.getLogger("fluxgrid").handlers)

    assert cli.main(["demo"]) == 0
    err = capsys.readouterr().err
    assert "an info line" in err and "a warning line" in err and "debug" not in err

    set_progress(True)
    assert cli.main(["demo", "-q"]) == 0
    err = capsys.readouterr().err
    assert "info" not in err and "a warning line" in err
    assert seen["progress"] is False  # -q: no bars
    assert _progress.progress_setting() is True  # restored after the command

    assert cli.main(["-v", "demo"]) == 0
    assert "a debug line" in capsys.readouterr().err
    assert logging.getLogger("fluxgrid").handlers == handlers


def test_library_is_silent_without_configuration(capsys):
    logging.getLogger("fluxgrid.test").info("not shown")
    assert "not shown" not in capsys.readouterr().err
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("fluxgrid").handlers)
