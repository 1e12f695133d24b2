"""The training loop of the torch models: small named hooks around a short loop.

:class:`Trainer` runs Adam over shuffled batches of a :class:`~fluxgrid.tensors.WindowCube`,
scores the validation windows each epoch, keeps the weights of the best epoch (lowest
validation loss; without validation windows, lowest training loss) and stops early (only
with validation windows). Each step is a method (``setup``, ``train_epoch``,
``train_step``, ``validate``, ``end_epoch``, ``finish``) so that a variant overrides one
hook, not the loop (as in neuralhydrology's ``BaseTrainer``). The trainer knows a model
only through the contract of
:class:`~fluxgrid.models.base.TorchModel` (``net``, ``training_loss``, ``name``, ``params``),
which is why :meth:`TorchModel.fit <fluxgrid.models.base.TorchModel.fit>` can hand its work
to :func:`fit_torch` without this module importing the models.

Examples
--------
>>> from fluxgrid.config import TrainConfig
>>> from fluxgrid.models import get_model
>>> from fluxgrid.training import prepare
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {"data": {"sites": ["US-MMS"]},
...     "windows": {"lookback": 10}, "train": {"epochs": 1, "device": "cpu"}})
>>> prepared = prepare(cfg)  # doctest: +SKIP
>>> model = get_model("lstm")(prepared.wcube.n_dynamic, 10, hidden=8)  # doctest: +SKIP
>>> history = fit_torch(model, prepared.wcube, prepared.part("train"),
...                     prepared.part("val"), cfg.train)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import random
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .._docstring import fill_doc
from .._lazy import lazy_import
from .._progress import track
from ..config.experiment import TrainConfig
from ..errors import FluxgridWarning, ModelError, SplitError
from ..prep.splits import PARTS, TRAIN, VAL

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..models.base import TorchModel
    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = [
    "Trainer",
    "amp_settings",
    "check_parts",
    "cpu_bfloat16_lstm_ok",
    "fit_torch",
    "loss_function",
    "seed_everything",
]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's random streams."""
    torch = lazy_import("torch")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds third-party code using the global RNG)
    torch.manual_seed(seed)


def loss_function(name: str) -> Callable:
    """The torch loss ``mse``, ``mae`` or ``huber`` as ``f(pred, obs) -> scalar``."""
    functional = lazy_import("torch").nn.functional
    return {"mse": functional.mse_loss, "mae": functional.l1_loss, "huber": functional.huber_loss}[
        name
    ]


def check_parts(index: WindowIndex | None, code: int, what: str) -> None:
    """Refuse windows of ``index`` that are not of split part ``code`` (e.g. test windows).

    Raises
    ------
    SplitError
        Naming the parts found and the one allowed.
    """
    if index is None or len(index) == 0:
        return
    bad = index.part != code
    if bad.any():
        found = sorted({k for k, v in PARTS.items() if v in set(index.part[bad].tolist())})
        allowed = next(k for k, v in PARTS.items() if v == code)
        raise SplitError(
            f"{what} windows include parts {found}; only '{allowed}' windows may be used here "
            "(test data never steer training or early stopping)"
        )


@functools.lru_cache(maxsize=1)
def cpu_bfloat16_lstm_ok() -> bool:
    """Whether a bfloat16-autocast LSTM runs forward and backward on this CPU (probed once).

    oneDNN has no bfloat16 LSTM kernel on some x86-64 CPUs (those without AVX-512 BF16 or
    AMX, e.g. several AMD EPYC): autocast then fails with "could not create a primitive
    descriptor for the LSTM forward propagation primitive". The probe is a 2-step LSTM of
    4 units on 2 windows; its result is kept for the process.

    Examples
    --------
    >>> isinstance(cpu_bfloat16_lstm_ok(), bool)
    True
    """
    torch = lazy_import("torch")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            layer = torch.nn.LSTM(2, 4, batch_first=True)
            x = torch.randn(2, 2, 2)
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
                out, _ = layer(x)
                loss = out.float().square().mean()
            loss.backward()
        return bool(torch.isfinite(loss).item())
    except RuntimeError:
        return False


def amp_settings(config: TrainConfig, device: torch.device) -> tuple[Any, bool]:
    """Autocast dtype and whether mixed precision is on for ``device``.

    float16 (with gradient scaling) runs on CUDA only; bfloat16 runs on CUDA and on CPUs
    whose oneDNN has bfloat16 recurrent kernels (:func:`cpu_bfloat16_lstm_ok`). Where a
    CPU has none, training falls back to float32 with a
    :class:`~fluxgrid.errors.FluxgridWarning`.
    """
    torch = lazy_import("torch")
    dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
    on = bool(config.amp) and (device.type == "cuda" or dtype == torch.bfloat16)
    if on and device.type == "cpu" and not cpu_bfloat16_lstm_ok():
        warnings.warn(
            "train.amp_dtype bfloat16: this CPU cannot run bfloat16 LSTM kernels (oneDNN "
            "needs AVX-512 BF16 or AMX); training in float32 instead (set train.amp: false "
            "to silence this warning)",
            FluxgridWarning,
            stacklevel=3,
        )
        return torch.float32, False
    return dtype, on


def _lr_schedule(opt: Any, config: TrainConfig) -> Any:
    """The learning-rate schedule of ``config`` (stepped once per epoch) or ``None``."""
    torch = lazy_import("torch")
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(config.epochs, 1), eta_min=config.lr * config.lr_min_factor
        )
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt,
            factor=0.5,
            patience=max(1, config.patience // 3),
            min_lr=config.lr * config.lr_min_factor,
        )
    return None


#: numpydoc entries shared by :class:`Trainer` and :func:`fit_torch` (see ``fill_doc``)
_DOCS = {
    "model_cube": """model
    A :class:`~fluxgrid.models.base.TorchModel`.
cube
    Scaled inputs and target (a :class:`~fluxgrid.tensors.WindowCube`).""",
    "trial": """trial
    An Optuna trial: the epoch's score (validation loss; training loss without
    validation windows) is reported each epoch and the trial pruned when the pruner
    says so.
progress, desc
    Show a progress bar over epochs; its label (default ``train <model name>``).""",
}


@fill_doc(_DOCS)
class Trainer:
    """Adam with early stopping on the validation windows; one method per step.

    The weights of the best epoch are kept: lowest validation loss, or, without validation
    windows, lowest training loss (all ``epochs`` then run).

    Parameters
    ----------
    %(model_cube)s
    config
        Optimisation settings.
    %(trial)s
    """

    def __init__(
        self,
        model: TorchModel,
        cube: WindowCube,
        config: TrainConfig,
        *,
        trial: Any = None,
        progress: bool | None = None,
        desc: str = "",
    ):
        self.model, self.cube, self.config = model, cube, config
        self.trial, self.progress, self.desc = trial, progress, desc

    # ------------------------------------------------------------------ the loop
    def fit(self, train: WindowIndex, val: WindowIndex | None) -> xr.Dataset:
        """Train on ``train``, stop early on ``val``; the history (see :func:`fit_torch`)."""
        self.check_inputs(train, val)
        self.setup(train, val)
        epochs = range(1, self.config.epochs + 1)
        for epoch in track(
            epochs, desc=self.desc or f"train {self.model.name}", show=self.progress
        ):
            start = time.perf_counter()
            record = self.train_epoch(train)
            record.update(self.validate(val))
            record["seconds"] = time.perf_counter() - start
            self.records.append(record)
            if self.end_epoch(epoch, record):
                self.stopped_early = True
                break
        return self.finish(train, val)

    # ------------------------------------------------------------------ hooks
    def check_inputs(self, train: WindowIndex, val: WindowIndex | None) -> None:
        """Refuse windows of the wrong split part and an empty training set."""
        check_parts(train, TRAIN, "training")
        check_parts(val, VAL, "validation")
        if len(train) == 0:
            raise SplitError("no training windows")

    def setup(self, train: WindowIndex, val: WindowIndex | None) -> None:
        """Seed, move the network, build optimiser, loss, mixed precision and schedule."""
        torch = lazy_import("torch")
        cfg = self.config
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.device = self.cube.device
        self.model.net.to(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        seed_everything(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.params = [p for p in self.model.net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.loss_fn = loss_function(cfg.loss)
        self.amp_dtype, self.use_amp = amp_settings(cfg, self.device)
        self.grad_scaler = torch.amp.GradScaler(
            "cuda", enabled=self.use_amp and self.amp_dtype == torch.float16
        )
        self.schedule = _lr_schedule(self.optimizer, cfg)
        self.has_val = val is not None and len(val) > 0
        self.records: list[dict[str, float]] = []
        self.best: tuple[float, int] = (math.inf, 0)
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.stopped_early = False

    def train_epoch(self, train: WindowIndex) -> dict[str, float]:
        """One pass over shuffled training batches; mean training loss, lr and windows seen."""
        torch = lazy_import("torch")
        self.model.net.train()
        lr_now = float(self.optimizer.param_groups[0]["lr"])
        total = torch.zeros((), device=self.device)  # accumulated on the device: no sync per step
        count = 0
        for x, y, _pos in self.cube.batches(
            train,
            self.config.batch_size,
            shuffle=True,
            generator=self.generator,
            max_batches=self.config.max_batches_per_epoch,
        ):
            total += self.train_step(x, y) * len(y)
            count += len(y)
        return {"train_loss": float(total) / max(count, 1), "lr": lr_now, "windows": count}

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step on a batch; returns the detached batch loss."""
        torch = lazy_import("torch")
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(
            device_type=self.device.type, dtype=self.amp_dtype, enabled=self.use_amp
        ):
            loss = self.model.training_loss(x, y, self.loss_fn)
        self.grad_scaler.scale(loss).backward()
        if self.config.grad_clip:
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()
        return loss.detach().float()

    def validate(self, val: WindowIndex | None) -> dict[str, float]:
        """Loss, RMSE, MAE and R2 (scaled units) on the validation windows (NaN without)."""
        if not self.has_val:
            return {"val_loss": np.nan, "val_rmse": np.nan, "val_mae": np.nan, "val_r2": np.nan}
        torch = lazy_import("torch")
        net = self.model.net
        net.eval()
        preds, obs = [], []
        with torch.no_grad():
            for x, y, _pos in self.cube.batches(val, self.config.eval_batch_size):
                with torch.autocast(
                    device_type=x.device.type, dtype=self.amp_dtype, enabled=self.use_amp
                ):
                    out = net(x)
                preds.append(out.float())
                obs.append(y)
        p, o = torch.cat(preds), torch.cat(obs)
        err = p - o
        sst = float(((o - o.mean()) ** 2).sum())
        return {
            "val_loss": float(self.loss_fn(p, o)),
            "val_rmse": float(torch.sqrt((err**2).mean())),
            "val_mae": float(err.abs().mean()),
            "val_r2": 1.0 - float((err**2).sum()) / sst if sst > 0 else np.nan,
        }

    def end_epoch(self, epoch: int, record: dict[str, float]) -> bool:
        """Keep the best weights, step the schedule, report to a trial; True stops training."""
        cfg = self.config
        score = record["val_loss"] if self.has_val else record["train_loss"]
        if not np.isfinite(score):
            raise ModelError(
                f"training of {self.model.name!r} diverged at epoch {epoch} (loss {score}); "
                "lower train.lr or check the inputs"
            )
        if score < self.best[0] - cfg.min_delta:
            self.best = (score, epoch)
            self.best_state = {
                k: v.detach().clone() for k, v in self.model.net.state_dict().items()
            }
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if self.schedule is not None:
            if cfg.lr_schedule == "plateau":
                self.schedule.step(score)
            else:
                self.schedule.step()
        if self.trial is not None:
            self.trial.report(float(score), epoch)
            if self.trial.should_prune():
                raise lazy_import("optuna").TrialPruned()
        return self.has_val and self.bad_epochs >= cfg.patience

    def finish(self, train: WindowIndex, val: WindowIndex | None) -> xr.Dataset:
        """Restore the best weights and return the history."""
        if self.best_state is not None:
            self.model.net.load_state_dict(self.best_state)
        records = self.records
        torch = lazy_import("torch")
        on_cuda = self.device.type == "cuda"
        peak = torch.cuda.max_memory_allocated(self.device) if on_cuda else np.nan
        uses_mixture = self.model.params.get("objective") == "mixture"
        return xr.Dataset(
            {k: ("epoch", np.array([r[k] for r in records], dtype=np.float64)) for k in records[0]},
            coords={"epoch": np.arange(1, len(records) + 1)},
            attrs={
                "loss": self.config.loss,
                "objective": "mixture_nll" if uses_mixture else self.config.loss,
                "best_epoch": int(self.best[1]),
                "best_val_loss": float(self.best[0]) if self.has_val else np.nan,
                "stopped_early": int(self.stopped_early),
                "device": str(self.device),
                "amp": int(self.use_amp),
                "amp_dtype": (
                    str(self.amp_dtype).removeprefix("torch.") if self.use_amp else "float32"
                ),
                "lr_schedule": self.config.lr_schedule,
                "n_train": len(train),
                "n_val": len(val) if val is not None else 0,
                "peak_gpu_memory_bytes": float(peak),
            },
        )


@fill_doc(_DOCS)
def fit_torch(
    model: TorchModel,
    cube: WindowCube,
    train: WindowIndex,
    val: WindowIndex | None,
    config: TrainConfig,
    *,
    trial: Any = None,
    progress: bool | None = None,
    desc: str = "",
) -> xr.Dataset:
    """Train a torch model with Adam and early stopping on the validation windows.

    Parameters
    ----------
    %(model_cube)s
    train
        Training windows (part ``train`` only).
    val
        Validation windows (part ``val`` only) or ``None`` (then the epoch of lowest
        training loss is kept).
    config
        Optimisation settings.
    %(trial)s

    Returns
    -------
    xarray.Dataset
        Dim ``epoch``: ``train_loss``, ``val_loss`` (the training loss on validation
        windows), ``val_rmse``/``val_mae`` (scaled units), ``val_r2``, ``lr`` (of the
        epoch, after the schedule), ``seconds`` (wall time of the epoch, validation
        included), ``windows`` (training windows seen; ``windows / seconds`` is the
        throughput). Attributes: ``loss``, ``objective`` (what was minimised: the loss or
        the model's own, e.g. ``mixture_nll``), ``best_epoch``, ``best_val_loss``,
        ``stopped_early``, ``device``, ``amp``, ``amp_dtype``, ``lr_schedule``, ``n_train``,
        ``n_val``, ``peak_gpu_memory_bytes`` (``torch.cuda.max_memory_allocated`` over the
        fit; NaN off CUDA). The model holds the best weights afterwards.

    Raises
    ------
    SplitError
        If ``train`` holds non-training or ``val`` non-validation (e.g. test) windows.
    """
    trainer = Trainer(model, cube, config, trial=trial, progress=progress, desc=desc)
    return trainer.fit(train, val)
