"""Configuration of a training experiment: data, split, windows, model, training, search.

One frozen dataclass per stage, loaded strictly (unknown keys and wrong types fail with the
key path) and written into every run directory. ``fluxgrid train config.yaml`` reads an
:class:`ExperimentConfig`; the sections can also be used on their own.

Keys that are valid but not read by the chosen method (``test_sites`` with a
``random_years`` split, ``fill_gaps`` ...) are refused too, so that a setting never silently
does nothing. Model hyper-parameters (``model.params``) are checked against the model's
signature before any training starts (see
:func:`fluxgrid.training.experiment.check_experiment`).

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(ExperimentConfig, {
...     "data": {"source": "demo", "sites": ["US-MMS"]},
...     "split": {"method": "random_years", "test_fraction": 0.33},
...     "windows": {"lookback": 75},
...     "model": {"name": "lstm", "params": {"hidden": 32}},
...     "train": {"epochs": 2},
... })
>>> cfg.windows.lookback, cfg.model.name
(75, 'lstm')
>>> from_dict(SplitConfig, {"method": "random_years", "test_sites": ["US-MMS"]})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: SplitConfig: key 'test_sites' is not read by method 'random_years'; ...
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..errors import ConfigError
from .serialise import bounded

__all__ = [
    "DataConfig",
    "EnsembleConfig",
    "ExperimentConfig",
    "FineTuneConfig",
    "ModelConfig",
    "SearchConfig",
    "SearchParam",
    "SplitConfig",
    "TrainConfig",
    "WindowConfig",
]


def _defaults(obj: Any) -> dict[str, Any]:
    return {
        f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())  # type: ignore[misc]
        for f in dataclasses.fields(obj)
    }


def _refuse_unread(obj: Any, selector: str, reads: dict[str, set[str]], common: set[str]) -> None:
    """Refuse non-default values of keys that the chosen ``selector`` value does not read."""
    choice = getattr(obj, selector)
    read = reads.get(choice, set()) | common | {selector}
    defaults = _defaults(obj)
    for name, default in defaults.items():
        if name not in read and getattr(obj, name) != default:
            users = sorted(k for k, v in reads.items() if name in v)
            raise ConfigError(
                f"{type(obj).__name__}: key {name!r} is not read by {selector} {choice!r}; "
                f"remove it (it is used by {selector} {', '.join(map(repr, users)) or 'none'})"
            )


# --------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the site cube comes from and which variables feed the model.

    Attributes
    ----------
    source
        ``"demo"`` (bundled 5-site daily cube), the FLUXNET2015 half-hourly ``hh.zarr``
        (aggregated to days), a site cube written by ``fluxgrid ingest`` (Zarr or NetCDF),
        or a folder / list of FLUXNET CSV files (read with :func:`fluxgrid.read_fluxnet`).
    sites, exclude_sites, igbp
        Keep only these sites / drop these / keep only these IGBP classes.
    min_years
        Keep sites with at least this many years of valid target values (after QC).
    period
        ``[start, end]`` dates (inclusive) to keep.
    resolution
        ``"daily"`` or ``"monthly"`` (monthly means of daily values, FLUXNET MM convention).
    drivers
        Canonical driver variables (model inputs), e.g. ``[ta, sw_in, vpd]``.
    target
        Target variable, e.g. ``nee`` or ``gpp_nt``.
    qc_threshold
        Mask target values whose QC fraction is below this (``null``: no QC).
    min_valid_fraction
        Drop sites whose share of valid target values is below this (see ``qc_mask``).
    """

    source: str = "demo"
    sites: tuple[str, ...] | None = None
    exclude_sites: tuple[str, ...] = ()
    igbp: tuple[str, ...] | None = None
    min_years: float | None = bounded(None, 0)
    period: tuple[Any, Any] | None = None
    resolution: Literal["daily", "monthly"] = "daily"
    drivers: tuple[str, ...] = ("ta", "sw_in", "vpd")
    target: str = "nee"
    qc_threshold: float | None = bounded(0.7, 0, 1)
    min_valid_fraction: float = bounded(0.0, 0, 1)

    def validate(self) -> None:
        """Check value ranges (called by :func:`fluxgrid.config.from_dict`)."""
        if not self.drivers:
            raise ConfigError("DataConfig.drivers: give at least one driver variable")
        if self.target in self.drivers:
            raise ConfigError(
                f"DataConfig: target {self.target!r} is also a driver; remove it from drivers"
            )
        if self.qc_threshold is not None and not 0 <= self.qc_threshold <= 1:
            raise ConfigError("DataConfig.qc_threshold: expected a fraction between 0 and 1")
        if self.period is not None:
            import pandas as pd

            try:
                start, end = (pd.Timestamp(str(v)) for v in self.period)
            except ValueError as err:
                raise ConfigError(
                    f"DataConfig.period: {self.period!r}; expected [start, end] dates, "
                    "e.g. ['2000-01-01', '2014-12-31']"
                ) from err
            if start > end:
                raise ConfigError("DataConfig.period: start is after end")


# --------------------------------------------------------------------------- split
_SPLIT_READS: dict[str, set[str]] = {
    "random_years": {"test_fraction", "seed"},
    "temporal": {"test_fraction"},
    "year_ranges": {"train_years", "test_years", "val_years"},
    "leave_sites_out": {"test_sites"},
    "leave_igbp_out": {"test_igbp"},
    "site_kfold": {"n_folds", "fold", "seed"},
}


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Train / validation / test split (see :mod:`fluxgrid.prep.splits`).

    Attributes
    ----------
    method
        ``random_years`` (whole years per site drawn at random, ``test_fraction`` of them
        test: 1/3 gives the ~2:1 ratio of the iLSTM study), ``temporal`` (last
        ``test_fraction`` of each site's record), ``year_ranges`` (``train_years`` /
        ``test_years``), ``leave_sites_out`` (``test_sites``), ``leave_igbp_out``
        (``test_igbp``), ``site_kfold`` (sites in ``n_folds`` folds stratified by IGBP,
        ``fold`` is the test fold).
    validation
        How validation data (early stopping, search) is carved from the training part:
        ``years`` (whole training years per site), ``tail`` (last part of each site's
        training record), ``sites`` (whole training sites) or ``none``. Not read when
        ``val_years`` names the validation years.
    train_years, test_years
        ``[first, last]`` calendar years (inclusive) of the ``year_ranges`` parts; they
        must not overlap.
    val_years
        ``[first, last]`` calendar years (inclusive) of the validation part of a
        ``year_ranges`` split, instead of carving validation from the training years:
        they must lie outside ``test_years``; where they overlap ``train_years`` those
        years leave training. ``validation`` and ``val_fraction`` are then not read (leave
        them at their defaults).
    test_fraction
        Share of years (``random_years``, default 1/3) or of the record (``temporal``,
        default 0.2) used for testing.
    val_fraction
        Share of the training part moved to validation.
    """

    method: Literal[
        "random_years", "temporal", "year_ranges", "leave_sites_out", "leave_igbp_out", "site_kfold"
    ] = "random_years"
    test_fraction: float | None = None
    train_years: tuple[int, int] | None = None
    test_years: tuple[int, int] | None = None
    val_years: tuple[int, int] | None = None
    test_sites: tuple[str, ...] = ()
    test_igbp: tuple[str, ...] = ()
    n_folds: int = bounded(5, 2)
    fold: int = 0
    validation: Literal["years", "tail", "sites", "none"] = "years"
    val_fraction: float = 0.2
    seed: int = 0

    def validate(self) -> None:
        """Check that the keys given are the ones the method reads, and their ranges."""
        _refuse_unread(self, "method", _SPLIT_READS, {"validation", "val_fraction"})
        if self.test_fraction is not None and not 0 < self.test_fraction < 1:
            raise ConfigError("SplitConfig.test_fraction: expected a share between 0 and 1")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError("SplitConfig.val_fraction: expected a share in [0, 1)")
        if self.method == "year_ranges" and (self.train_years is None or self.test_years is None):
            raise ConfigError(
                "SplitConfig: method 'year_ranges' needs train_years and test_years, "
                "e.g. train_years: [2000, 2010], test_years: [2011, 2014]"
            )
        self._check_year_ranges()
        if self.method == "leave_sites_out" and not self.test_sites:
            raise ConfigError("SplitConfig: method 'leave_sites_out' needs test_sites")
        if self.method == "leave_igbp_out" and not self.test_igbp:
            raise ConfigError("SplitConfig: method 'leave_igbp_out' needs test_igbp")
        if self.method == "site_kfold" and not 0 <= self.fold < self.n_folds:
            raise ConfigError(f"SplitConfig.fold: expected 0..{self.n_folds - 1}")

    def _check_year_ranges(self) -> None:
        """``[first, last]`` ranges; validation years outside the test years, not carved too."""
        ranges = {"train_years": self.train_years, "test_years": self.test_years}
        ranges.update(val_years=self.val_years)
        for name, years in ranges.items():
            if years is not None and (len(years) != 2 or years[0] > years[1]):
                raise ConfigError(
                    f"SplitConfig.{name}: {list(years)}; expected [first, last] calendar "
                    "years (inclusive), e.g. [2009, 2010]"
                )
        train, test, val = self.train_years, self.test_years, self.val_years
        if train is not None and test is not None and _overlap(train, test):
            raise ConfigError(
                f"SplitConfig: train_years {list(train)} and test_years {list(test)} "
                "overlap; make them disjoint"
            )
        if val is None:
            return
        if test is not None and _overlap(val, test):
            raise ConfigError(
                f"SplitConfig.val_years {list(val)} overlap test_years {list(test)}; "
                "validation years must lie outside the test years"
            )
        defaults = _defaults(self)
        if (self.validation, self.val_fraction) != (
            defaults["validation"],
            defaults["val_fraction"],
        ):
            raise ConfigError(
                f"SplitConfig: val_years {list(val)} name the validation years, so "
                f"validation ({self.validation!r}) and val_fraction ({self.val_fraction}) "
                "are not read; remove them, or remove val_years to carve validation from "
                "the training years"
            )


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two inclusive year ranges share a year."""
    return max(a[0], b[0]) <= min(a[1], b[1])


# --------------------------------------------------------------------------- windows
@dataclasses.dataclass(frozen=True)
class WindowConfig:
    """Sequence-to-one windows (see :mod:`fluxgrid.windows`).

    Attributes
    ----------
    lookback
        Time steps per input window, ending at (and including) the target step: 75, 90 or
        365 days; 6 for monthly data.
    static
        Extra inputs: ``doy`` (day-of-year sine and cosine), ``latlon`` (site latitude and
        longitude), ``igbp`` (one-hot vegetation class).
    fill_gaps
        Driver gaps of at most this many steps are linearly interpolated before windows are
        tested for completeness (targets are never filled).
    igbp_classes
        Vocabulary of the IGBP one-hot (default: classes present in the data).
    """

    lookback: int = 75
    static: tuple[Literal["doy", "latlon", "igbp"], ...] = ("doy",)
    fill_gaps: int = bounded(0, 0)
    igbp_classes: tuple[str, ...] | None = None

    def validate(self) -> None:
        """Check value ranges."""
        if self.lookback < 1:
            raise ConfigError("WindowConfig.lookback: expected a positive number of steps")
        if self.fill_gaps < 0:
            raise ConfigError("WindowConfig.fill_gaps: expected 0 or a positive number of steps")
        if self.igbp_classes is not None and "igbp" not in self.static:
            raise ConfigError("WindowConfig: igbp_classes is only read when static contains 'igbp'")


# --------------------------------------------------------------------------- model
@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which registered model to train and its hyper-parameters.

    Attributes
    ----------
    name
        Registered model name: ``lstm``, ``gru``, ``rnn``, ``ilstm``, ``fnn``, ``lasso``,
        ``svr``, ``rf`` (see :func:`fluxgrid.get_model`).
    params
        Keyword arguments of the model (checked against its signature before training).
    """

    name: str = "lstm"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------- training
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation of torch models (sklearn baselines read ``seed`` and ``device`` only).

    Attributes
    ----------
    epochs
        Maximum passes over the training windows.
    batch_size
        Windows per optimisation step.
    lr, weight_decay
        Adam learning rate and L2 weight decay.
    loss
        ``mse``, ``mae`` or ``huber`` (on scaled targets). The defaults ``lr`` 3e-3 and
        ``mae`` (with dropout 0.2 in the recurrent models) won the defaults study of
        ``benchmarks/reproduce_defaults.py`` (docs/results/defaults.md), ahead of the
        previous 1e-3 / ``mse`` / no dropout by about 0.02 test R2.
    patience
        Stop after this many epochs without a validation-loss improvement larger than
        ``min_delta``; the best checkpoint is kept. Without validation data
        (``split.validation: none``) every epoch runs and the epoch of lowest training loss
        is kept.
    max_batches_per_epoch
        Cap on steps per epoch (a random subset of training windows each epoch).
    eval_batch_size
        Windows per forward pass when predicting.
    seed
        Seeds torch, numpy and the batch order (runs are reproducible on one device).
    device
        ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    amp
        Mixed precision: with ``amp_dtype`` float16 (autocast + gradient scaling) on CUDA
        only, ignored on CPU; with bfloat16 (autocast, no scaling) on CUDA and CPU.
    amp_dtype
        ``float16`` or ``bfloat16``.
    lr_schedule
        ``constant``, ``cosine`` (cosine decay over ``epochs`` to ``lr * lr_min_factor``)
        or ``plateau`` (halve the rate when the validation loss stalls for
        ``max(1, patience // 3)`` epochs, down to ``lr * lr_min_factor``).
    lr_min_factor
        Lowest learning rate of a schedule, as a fraction of ``lr``.
    placement
        Where the scaled cube lives: ``auto`` (on the device when it fits, else pinned host
        memory with per-batch transfers), ``device`` or ``host``.
    grad_clip
        Clip the gradient norm (``null``: no clipping).
    num_threads
        torch CPU threads (``null``: torch's default).
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = bounded(0.0, 0)
    loss: Literal["mse", "mae", "huber"] = "mae"
    patience: int = 10
    min_delta: float = bounded(0.0, 0)
    max_batches_per_epoch: int | None = bounded(None, 1)
    eval_batch_size: int = 4096
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"
    lr_min_factor: float = 0.01
    placement: Literal["auto", "device", "host"] = "auto"
    grad_clip: float | None = bounded(1.0, 0)
    num_threads: int | None = bounded(None, 1)

    def validate(self) -> None:
        """Check value ranges."""
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig.{name}: expected a positive integer")
        if self.lr <= 0:
            raise ConfigError("TrainConfig.lr: expected a positive learning rate")
        if not 0 < self.lr_min_factor <= 1:
            raise ConfigError("TrainConfig.lr_min_factor: expected a fraction in (0, 1]")
        if self.patience < 1:
            raise ConfigError("TrainConfig.patience: expected at least 1 epoch")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(
                f"TrainConfig.device: {self.device!r}; expected auto, cpu, cuda or cuda:N"
            )


# --------------------------------------------------------------------------- search
@dataclasses.dataclass(frozen=True)
class SearchParam:
    """One dimension of a search space: ``choices``, or a range ``low``..``high``.

    Attributes
    ----------
    choices
        Discrete values (grid search needs these for every dimension).
    low, high
        Range of a numeric dimension.
    log
        Sample the range log-uniformly.
    integer
        Integer range (``step`` 1 unless given).
    step
        Grid step of a range.
    """

    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: float | None = None

    def validate(self) -> None:
        """Either choices or a complete range."""
        has_range = self.low is not None or self.high is not None
        if (self.choices is None) == (not has_range):
            raise ConfigError(
                "SearchParam: give either choices: [...] or low and high (with log / integer)"
            )
        if has_range:
            if self.low is None or self.high is None or self.low > self.high:
                raise ConfigError("SearchParam: expected low <= high, both given")
            if self.log and self.low <= 0:
                raise ConfigError("SearchParam: a log range needs low > 0")
        elif not self.choices:
            raise ConfigError("SearchParam.choices: give at least one value")


_SEARCH_READS: dict[str, set[str]] = {
    "none": set(),
    "grid": {"space", "metric"},
    "random": {"space", "n_trials", "seed", "metric", "timeout_s"},
    "hyperband": {
        "space",
        "n_trials",
        "seed",
        "metric",
        "min_epochs",
        "reduction_factor",
        "timeout_s",
    },
}


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Hyper-parameter search (see :func:`fluxgrid.training.search`).

    Attributes
    ----------
    method
        ``none``, ``grid`` (every combination of ``choices``), ``random`` or ``hyperband``
        (Optuna TPE sampler with a Hyperband pruner on the validation loss per epoch).
    space
        Dotted names -> :class:`SearchParam`. ``model.<param>`` sets a model parameter,
        ``train.<field>`` a training setting, e.g. ``{"model.hidden": {"choices": [32, 64]},
        "train.lr": {"low": 1e-4, "high": 1e-2, "log": true}}``.
    n_trials
        Trials of random and hyperband search.
    metric
        Validation score minimised: ``val_loss`` (the training loss on validation windows)
        or ``val_rmse`` / ``val_mae`` in target units, or ``-val_r2``.
    min_epochs, reduction_factor
        Hyperband minimum resource (epochs) and reduction factor.
    timeout_s
        Stop starting new trials after this many seconds.
    """

    method: Literal["none", "grid", "random", "hyperband"] = "none"
    space: dict[str, SearchParam] = dataclasses.field(default_factory=dict)
    n_trials: int = 20
    seed: int = 0
    metric: Literal["val_loss", "val_rmse", "val_mae", "-val_r2"] = "val_loss"
    min_epochs: int = 1
    reduction_factor: int = 3
    timeout_s: float | None = None

    def validate(self) -> None:
        """Keys read by the method only; names of the space start with model. or train."""
        _refuse_unread(self, "method", _SEARCH_READS, set())
        if self.method != "none" and not self.space:
            raise ConfigError(f"SearchConfig: method {self.method!r} needs a space")
        for key, spec in self.space.items():
            if not (key.startswith("model.") or key.startswith("train.")):
                raise ConfigError(
                    f"SearchConfig.space: {key!r}; names start with 'model.' (a model "
                    "parameter, e.g. model.hidden) or 'train.' (e.g. train.lr)"
                )
            if key.startswith("train."):
                field = key.removeprefix("train.")
                known = [f.name for f in dataclasses.fields(TrainConfig)]
                if field not in known:
                    raise ConfigError(
                        f"SearchConfig.space: {key!r}: TrainConfig has no {field!r}; "
                        f"known: {', '.join(known)}"
                    )
            if self.method == "grid" and spec.choices is None:
                raise ConfigError(
                    f"SearchConfig.space.{key}: grid search needs choices: [...] for every name"
                )


# --------------------------------------------------------------------------- ensembles
@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """A seed ensemble: one member per seed, same data, split and settings.

    Each member is trained like a single run with ``train.seed`` set to its seed (weight
    initialisation and batch order differ; the split's own ``split.seed`` is shared) and
    written as a normal run directory ``members/seed<k>/``; the ensemble directory holds
    the member mean, standard deviation and each member's predictions, the scores of the
    mean and every member's scores (:func:`fluxgrid.training.train_experiment`).

    Attributes
    ----------
    seeds
        Seeds of the members, at least two and all different, e.g. ``[0, 1, 2]``
        (empty: a single run seeded by ``train.seed``).

    Examples
    --------
    >>> from fluxgrid.config import from_dict
    >>> from_dict(EnsembleConfig, {"seeds": [0, 1, 2]}).seeds
    (0, 1, 2)
    """

    seeds: tuple[int, ...] = ()

    def validate(self) -> None:
        """At least two seeds, all different."""
        if len(self.seeds) == 1:
            raise ConfigError(
                f"EnsembleConfig.seeds: {list(self.seeds)}; an ensemble needs at least two "
                "seeds (remove the ensemble section to train one model with train.seed)"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(
                f"EnsembleConfig.seeds: {list(self.seeds)} repeat a seed; the members would "
                "be identical, give different seeds"
            )


# --------------------------------------------------------------------------- transfer
_FINE_TUNE_READS: dict[str, set[str]] = {
    "full": set(),
    "freeze_recurrent": set(),
    "low_lr": {"lr_factor"},
}


@dataclasses.dataclass(frozen=True)
class FineTuneConfig:
    """Per-site fine-tuning of a model pre-trained on all training sites.

    Read by :func:`fluxgrid.training.cross_site_transfer` with ``pretrain="all_sites"``.

    Attributes
    ----------
    mode
        ``full`` (every weight trained further at ``train.lr``), ``freeze_recurrent``
        (the recurrent layers keep their pre-trained weights; the head is trained at
        ``train.lr``) or ``low_lr`` (every weight trained at ``train.lr * lr_factor``).
    lr_factor
        Learning-rate factor of ``low_lr``, in (0, 1).
    epochs
        Fine-tuning epochs (``null``: ``train.epochs``); early stopping as in training.

    Examples
    --------
    >>> from fluxgrid.config import from_dict
    >>> from_dict(FineTuneConfig, {"mode": "low_lr", "lr_factor": 0.1, "epochs": 5}).lr_factor
    0.1
    """

    mode: Literal["full", "freeze_recurrent", "low_lr"] = "full"
    lr_factor: float = 0.1
    epochs: int | None = bounded(None, 1)

    def validate(self) -> None:
        """``lr_factor`` only with ``low_lr``, in (0, 1)."""
        _refuse_unread(self, "mode", _FINE_TUNE_READS, {"epochs"})
        if not 0 < self.lr_factor < 1:
            raise ConfigError(
                f"FineTuneConfig.lr_factor: {self.lr_factor}; expected a factor in (0, 1) "
                "(1 is mode 'full')"
            )


# --------------------------------------------------------------------------- experiment
@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything ``fluxgrid train`` needs; saved as ``config.yaml`` in the run directory.

    Attributes
    ----------
    ensemble
        Train a seed ensemble (:class:`EnsembleConfig`, ``ensemble: {seeds: [0, 1, 2]}``)
        instead of one model; not combined with a search (search first, then put the
        winners in ``model`` / ``train``).
    output
        Run directory (``fluxgrid train -o`` overrides it).
    description
        Free text kept with the run.
    """

    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    windows: WindowConfig = WindowConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    output: str = "runs/train"
    description: str = ""

    def validate(self) -> None:
        """An ensemble trains fixed settings: no search with it."""
        if self.ensemble.seeds and self.search.method != "none":
            raise ConfigError(
                f"ExperimentConfig: ensemble.seeds {list(self.ensemble.seeds)} with search "
                f"method {self.search.method!r}; run the search alone first, put the winning "
                "settings in model.params / train, then train the ensemble"
            )
