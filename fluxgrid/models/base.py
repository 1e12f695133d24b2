"""The model contract shared by every fluxgrid model (torch networks and sklearn baselines).

Every registered model is a :class:`FluxModel` subclass, constructed as::

    model = get_model(name)(n_inputs, lookback, **params)

and used only through these methods:

``fit(cube, train, val, config) -> history``
    Learn from the windows ``train`` of a :class:`~fluxgrid.tensors.WindowCube` (scaled
    inputs and target); ``val`` (validation windows, never test windows) drives early
    stopping for torch models. Returns an :class:`xarray.Dataset` with dim ``epoch``
    (``train_loss``, ``val_loss``, ...).
``predict_batch(x) -> y``
    ``x`` is a torch tensor ``(batch, lookback, n_inputs)`` of scaled inputs (oldest step
    first, the last step is the target step, inputs in the order of ``cube.features``);
    ``y`` is ``(batch,)`` scaled predictions on ``x``'s device, without gradients. This is
    what upscaling and explanations call on gathered batches.
``predict(cube, index) -> numpy.ndarray``
    Scaled predictions for all windows of a :class:`~fluxgrid.windows.WindowIndex`,
    batch by batch.
``save(path)`` / :func:`load_model`
    A self-describing checkpoint (model name, params, ``n_inputs``, ``lookback``, weights).

Torch models (:class:`TorchModel`) also expose the network as ``model.net`` (an
``nn.Module`` whose ``forward(x)`` returns ``(batch,)``) and are callable,
``model(x) == model.net(x)``, for gradient-based explanations. Scaling is outside the
model: :class:`fluxgrid.runs.TrainedRun` combines model, scaler and input recipe.

Model hyper-parameters are the keyword arguments of the subclass ``__init__`` after
``n_inputs`` and ``lookback``; :meth:`FluxModel.check_params` refuses unknown ones before
any training starts.

Examples
--------
>>> from fluxgrid.models import get_model
>>> cls = get_model("lstm")
>>> sorted(cls.param_defaults())
['dropout', 'forget_bias', 'head_hidden', 'hidden', 'layers']
>>> cls.check_params({"hiden": 32})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: model 'lstm': unknown parameter 'hiden'; known: hidden, layers, ...
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import os
import pickle
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import xarray as xr

from .._docstring import fill_doc
from .._lazy import lazy_import
from ..errors import ConfigError, FileFormatError, ModelError
from ..io.atomic import atomic_path
from ..tensors import resolve_device
from ..training.fit import fit_torch
from .registry import get_model

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..config.experiment import TrainConfig
    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = ["FluxModel", "SklearnModel", "TorchModel", "load_model"]

_FORMAT = "fluxgrid-model-1"
#: one model move at a time, so that threads sharing a model see it moved once
_MOVE_LOCK = threading.Lock()


class FluxModel(abc.ABC):
    """Base class of all models; see the module docstring for the contract.

    Parameters
    ----------
    n_inputs
        Number of input features per time step.
    lookback
        Steps per input window.
    """

    #: registry name (set by subclasses)
    name: ClassVar[str] = ""
    #: ``"torch"`` or ``"sklearn"``
    kind: ClassVar[Literal["torch", "sklearn"]]
    #: what :func:`fluxgrid.explain.shap_values` can attribute this model with:
    #: ``"gradient"`` (expected gradients through a differentiable network), ``"tree"``
    #: (exact TreeSHAP of a fitted tree ensemble), ``"linear"`` (exact SHAP of a linear
    #: model) or ``None`` (no SHAP method; use permutation importance)
    shap_method: ClassVar[Literal["gradient", "tree", "linear"] | None] = None

    def __init__(self, n_inputs: int, lookback: int, **params: Any):
        if n_inputs < 1 or lookback < 1:
            raise ModelError(
                f"model {self.name!r}: n_inputs={n_inputs}, lookback={lookback}; both must be >= 1"
            )
        self.n_inputs = int(n_inputs)
        self.lookback = int(lookback)
        self.params = dict(params)

    # ------------------------------------------------------------------ parameters
    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Hyper-parameters of the model and their defaults (from the signature)."""
        sig = inspect.signature(cls.__init__)
        skip = {"self", "n_inputs", "lookback"}
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return {
            n: p.default for n, p in sig.parameters.items() if n not in skip and p.kind in kinds
        }

    @classmethod
    def params_from(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The hyper-parameters among ``values``, named as in the ``__init__`` signature.

        Lets a subclass hand its constructor's arguments on without writing each name twice
        (the signature stays the one declaration of the parameters)::

            def __init__(self, n_inputs, lookback, *, alpha=0.001):
                super().__init__(n_inputs, lookback, **self.params_from(locals()))

        Parameters
        ----------
        values
            Name -> value, typically the constructor's ``locals()`` (after any
            normalisation of the arguments); names that are not parameters are ignored.
        """
        return {name: values[name] for name in cls.param_defaults() if name in values}

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Return defaults updated with ``params``; refuse unknown names.

        Raises
        ------
        ConfigError
            Naming the unknown parameter and listing the known ones.
        """
        known = cls.param_defaults()
        for key in params:
            if key not in known:
                raise ConfigError(
                    f"model {cls.name!r}: unknown parameter {key!r}; known: {', '.join(known)}"
                )
        return {**known, **params}

    # ------------------------------------------------------------------ contract
    @abc.abstractmethod
    def fit(
        self,
        cube: WindowCube,
        train: WindowIndex,
        val: WindowIndex | None,
        config: TrainConfig,
        **kwargs: Any,
    ) -> xr.Dataset:
        """Learn from ``train`` windows; ``val`` windows steer early stopping."""

    @abc.abstractmethod
    def predict_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled predictions ``(batch,)`` for scaled inputs ``(batch, lookback, n_inputs)``."""

    def predict(
        self, cube: WindowCube, index: WindowIndex, *, batch_size: int = 4096
    ) -> np.ndarray:
        """Scaled predictions for every window of ``index`` (order kept), float32."""
        torch = lazy_import("torch")
        self.check_cube(cube, index)
        out = np.empty(len(index), dtype=np.float32)
        for x, _y, pos in cube.batches(index, batch_size, shuffle=False):
            with torch.no_grad():
                out[pos.cpu().numpy()] = self.predict_batch(x).float().cpu().numpy()
        return out

    def check_cube(self, cube: WindowCube, index: WindowIndex) -> None:
        """Refuse a cube or windows that do not match the model's inputs and look-back.

        Raises
        ------
        ModelError
            Naming the inputs the model expects and those the data give.
        """
        n = cube.n_dynamic + cube.n_static
        if n != self.n_inputs:
            raise ModelError(
                f"model {self.name!r} expects {self.n_inputs} inputs per step, the data give "
                f"{n} ({cube.features}); build inputs with the run's drivers and static settings"
            )
        if index.lookback != self.lookback:
            raise ModelError(
                f"model {self.name!r} was built for {self.lookback}-step windows, got "
                f"{index.lookback}-step windows"
            )

    @abc.abstractmethod
    def _state(self) -> Any:
        """Learned state (weights or fitted estimator)."""

    @abc.abstractmethod
    def _load_state(self, state: Any) -> None:
        """Restore :meth:`_state`."""

    def save(self, path: str | os.PathLike) -> Path:
        """Write a self-describing checkpoint, atomically."""
        path = Path(path)
        payload = {
            "format": _FORMAT,
            "name": self.name,
            "kind": self.kind,
            "n_inputs": self.n_inputs,
            "lookback": self.lookback,
            "params": self.params,
            "state": self._state(),
        }
        with atomic_path(path) as tmp:
            if self.kind == "torch":
                lazy_import("torch").save(payload, tmp)
            else:
                with open(tmp, "wb") as fh:
                    pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return (
            f"{type(self).__name__}(n_inputs={self.n_inputs}, lookback={self.lookback}, {params})"
        )


def load_model(path: str | os.PathLike, *, device: str = "auto") -> FluxModel:
    """Load a checkpoint written by :meth:`FluxModel.save`.

    Parameters
    ----------
    path
        ``model.pt`` (torch) or ``model.pkl`` (sklearn).
    device
        Device for torch weights (``auto``: CUDA when present).

    Raises
    ------
    FileFormatError
        If the file is not a fluxgrid checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(path, "checkpoint not found")
    try:
        if path.suffix == ".pkl":
            with open(path, "rb") as fh:
                payload = pickle.load(fh)
        else:
            torch = lazy_import("torch")
            payload = torch.load(path, map_location=resolve_device(device), weights_only=False)
    except (OSError, pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise FileFormatError(path, f"cannot be read as a fluxgrid checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise FileFormatError(path, "not a fluxgrid model checkpoint", expected=_FORMAT)
    cls = get_model(payload["name"])
    model = cls(payload["n_inputs"], payload["lookback"], **payload["params"])
    model._load_state(payload["state"])
    if model.kind == "torch":
        model.to(device)
    return model


# --------------------------------------------------------------------------- torch
class TorchModel(FluxModel):
    """A torch network behind the contract; :meth:`build` returns the ``nn.Module``.

    The network's ``forward(x)`` maps ``(batch, lookback, n_inputs)`` to ``(batch,)``.
    Training is :func:`fluxgrid.training.fit.fit_torch` (Adam, early stopping, AMP on CUDA).
    """

    kind: ClassVar[Literal["torch", "sklearn"]] = "torch"
    #: every network is differentiable: SHAP by expected gradients
    shap_method: ClassVar[Literal["gradient", "tree", "linear"] | None] = "gradient"

    def __init__(self, n_inputs: int, lookback: int, **params: Any):
        super().__init__(n_inputs, lookback, **params)
        lazy_import("torch")
        self.net = self.build()

    @abc.abstractmethod
    def build(self) -> torch.nn.Module:
        """Create the network from ``self.n_inputs``, ``self.lookback``, ``self.params``."""

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device = "auto") -> TorchModel:
        """Move the weights to ``device`` (``auto``: CUDA when present); returns self.

        Nothing is touched when the weights are there already: Dask threads share one
        model, and moving a recurrent net rebuilds its flat weights, which a forward pass
        in another thread may be reading (torch then fails in ``_update_flat_weights``).
        """
        target = resolve_device(device) if isinstance(device, str) else device
        with _MOVE_LOCK:
            here = self.device
            if here.type != target.type or target.index not in (None, here.index):
                self.net.to(target)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``self.net(x)`` (with gradients: for explanations)."""
        return self.net(x)

    def fit(self, cube, train, val, config, **kwargs):
        """Train with :func:`fluxgrid.training.fit.fit_torch`; returns the history."""
        return fit_torch(self, cube, train, val, config, **kwargs)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, loss_fn: Any) -> torch.Tensor:
        """The scalar the trainer minimises on one batch: ``loss_fn(net(x), y)``.

        Models with another objective (e.g. the iLSTM mixture likelihood) override this;
        validation and early stopping always use ``loss_fn`` on the predictions.
        """
        return loss_fn(self.net(x).float(), y)

    def predict_batch(self, x):
        """Eval-mode forward without gradients, float32 output.

        The network is left in eval mode: Dask threads share one model, and switching a
        training-mode network back afterwards would turn dropout on under another thread's
        forward pass. Training sets train mode itself at the start of every epoch.
        """
        torch = lazy_import("torch")
        if self.net.training:
            self.net.eval()
        with torch.no_grad():
            return self.net(x.to(self.device)).float()

    def _state(self):
        return {k: v.detach().cpu() for k, v in self.net.state_dict().items()}

    def _load_state(self, state):
        self.net.load_state_dict(state)

    @contextlib.contextmanager
    def explain_mode(self) -> Iterator[torch.nn.Module]:
        """Eval mode with gradients: for SHAP and other gradient-based explanations.

        cuDNN's recurrent kernels refuse a backward pass in eval mode; switching the network
        to train mode instead would turn dropout on and change the predictions. Inside this
        context the network is in eval mode (dropout off) and cuDNN is disabled, so torch's
        native kernels compute the same predictions and their gradients (on CPU this only
        sets eval mode).

        Examples
        --------
        >>> import torch
        >>> from fluxgrid.models import get_model
        >>> model = get_model("lstm")(3, 10, hidden=4, layers=2, dropout=0.5)
        >>> x = torch.randn(2, 10, 3, requires_grad=True)
        >>> with model.explain_mode() as net:
        ...     net(x).sum().backward()
        >>> x.grad.shape
        torch.Size([2, 10, 3])
        """
        torch = lazy_import("torch")
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.backends.cudnn.flags(enabled=False):
                yield self.net
        finally:
            self.net.train(was_training)

    def n_parameters(self) -> int:
        """Number of trainable weights."""
        return int(sum(p.numel() for p in self.net.parameters() if p.requires_grad))


# --------------------------------------------------------------------------- sklearn
def window_summary(x: Any, aggregates: tuple[int, ...]) -> Any:
    """Lagged / aggregated features of windows: means over the last ``k`` steps.

    Parameters
    ----------
    x
        Torch tensor ``(batch, lookback, n_inputs)``.
    aggregates
        Window lengths ``k`` (1: the value at the target step; 0 or >= lookback: the whole
        window).

    Returns
    -------
    torch.Tensor
        ``(batch, n_inputs * len(aggregates))``, grouped by aggregate then input.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(6.0).reshape(1, 3, 2)   # steps (0,1), (2,3), (4,5)
    >>> window_summary(x, (1, 0)).tolist()
    [[4.0, 5.0, 2.0, 3.0]]
    """
    torch = lazy_import("torch")
    n_steps = x.shape[1]
    cs = torch.cumsum(x.flip(1), dim=1)  # cs[:, k-1] = sum of the last k steps
    parts = []
    for k in aggregates:
        k = n_steps if k <= 0 or k > n_steps else k
        parts.append(cs[:, k - 1] / k)
    return torch.cat(parts, dim=1)


#: numpydoc entries shared by the models' docstrings (filled in by ``fill_doc``)
PARAM_DOCS = {
    "window": """n_inputs, lookback
    Inputs per step and steps per window.""",
    "sklearn": """aggregates
    Window lengths averaged into features (0: the whole window; see
    :func:`~fluxgrid.models.base.window_summary`).
max_train_samples
    Fit on a seeded random subset of at most this many training windows (``None``: all).
seed
    Seed of that subset and of the estimator.""",
}


@fill_doc(PARAM_DOCS)
class SklearnModel(FluxModel):
    """A scikit-learn regressor on lagged / aggregated window features.

    Subclasses implement :meth:`make_estimator`. Features are :func:`window_summary` of
    the gathered windows (computed in chunks), so these models are callable on batch
    tensors like the torch ones. A subclass declares ``shap_method`` where an exact SHAP
    algorithm fits its estimator (``None`` by default: no SHAP).

    Parameters
    ----------
    %(window)s
    %(sklearn)s
    """

    kind: ClassVar[Literal["torch", "sklearn"]] = "sklearn"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        *,
        aggregates: tuple[int, ...] = (1, 7, 30, 0),
        max_train_samples: int | None = None,
        seed: int = 0,
        **params: Any,
    ):
        super().__init__(
            n_inputs,
            lookback,
            aggregates=tuple(aggregates),
            max_train_samples=max_train_samples,
            seed=seed,
            **params,
        )
        lazy_import("sklearn")
        self.estimator = None

    @abc.abstractmethod
    def make_estimator(self) -> Any:
        """The unfitted scikit-learn estimator from ``self.params``."""

    def features(self, x: Any) -> np.ndarray:
        """Window features of a batch tensor as float32 numpy ``(batch, n_features)``."""
        return window_summary(x.float(), self.params["aggregates"]).cpu().numpy()

    def _design(self, cube, index, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        n_feat = self.n_inputs * len(self.params["aggregates"])
        X = np.empty((len(index), n_feat), dtype=np.float32)
        y = np.empty(len(index), dtype=np.float32)
        for xb, yb, pos in cube.batches(index, batch_size, shuffle=False):
            p = pos.cpu().numpy()
            X[p] = self.features(xb)
            y[p] = yb.cpu().numpy()
        return X, y

    def fit(self, cube, train, val, config, **kwargs):
        """Fit the estimator on (a seeded subset of) the training windows."""
        self.check_cube(cube, train)
        start = time.perf_counter()
        index = train
        cap = self.params.get("max_train_samples")
        if cap is not None and len(train) > cap:
            rng = np.random.default_rng(self.params.get("seed", 0))
            index = train.take(np.sort(rng.choice(len(train), size=int(cap), replace=False)))
        X, y = self._design(cube, index)
        self.estimator = self.make_estimator()
        self.estimator.fit(X, y)
        train_loss = float(np.mean((self.estimator.predict(X) - y) ** 2))
        val_loss = np.nan
        if val is not None and len(val):
            Xv, yv = self._design(cube, val)
            val_loss = float(np.mean((self.estimator.predict(Xv) - yv) ** 2))
        return xr.Dataset(
            {
                "train_loss": ("epoch", [train_loss]),
                "val_loss": ("epoch", [val_loss]),
                "seconds": ("epoch", [time.perf_counter() - start]),
            },
            coords={"epoch": [1]},
            attrs={"loss": "mse", "n_train_used": len(index), "best_epoch": 1},
        )

    def predict_batch(self, x):
        """Estimator predictions as a float32 tensor on ``x``'s device."""
        torch = lazy_import("torch")
        if self.estimator is None:
            raise ModelError(f"model {self.name!r} is not fitted; call fit first")
        pred = self.estimator.predict(self.features(x)).astype(np.float32)
        return torch.as_tensor(pred, device=x.device)

    def _state(self):
        return self.estimator

    def _load_state(self, state):
        self.estimator = state
