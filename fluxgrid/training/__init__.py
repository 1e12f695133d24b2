"""Training: prepared data -> fitted model -> run directory; search and cross-site transfer.

The modules, each with one job:

``build``
    checks that need no data, hyper-parameters, building and fitting a model
    (:func:`check_experiment`, :func:`build_model`, :func:`fit_model`);
``prepared``
    split, scaler, window index and device tensors of an experiment (:func:`prepare`);
``fit``
    the torch training loop as named hooks (:class:`Trainer`, :func:`fit_torch`);
``tuning``
    grid, random and Hyperband searches on the validation part (:func:`search`);
``experiment``
    one experiment end to end, written as a run directory (:func:`train_experiment`);
``ensemble``
    seed ensembles: members, their mean and spread (:func:`train_ensemble`);
``finetune``
    fine-tuning a pre-trained model: freezing, a lower rate (:func:`fine_tune`);
``transfer``
    one model per site scored at every site (:func:`cross_site_transfer`).

The modules are not named after the functions they export (``prepare``, ``search``), so
that the package's names stay the functions. Saved runs are read back with
:func:`fluxgrid.runs.load_run`. Names are loaded on first use, so importing one module
(``fluxgrid.training.fit``, which the models use) does not import the others.

Examples
--------
>>> from fluxgrid.training import train_experiment  # doctest: +SKIP
>>> run_dir = train_experiment("recipes/train.yaml", output="runs/lstm")  # doctest: +SKIP
"""

from __future__ import annotations

from .._lazy import lazy_names

_PUBLIC = {
    "Prepared": ".prepared",
    "Trainer": ".fit",
    "apply_params": ".build",
    "build_model": ".build",
    "check_experiment": ".build",
    "check_model_specs": ".build",
    "cross_site_transfer": ".transfer",
    "fine_tune": ".finetune",
    "fit_model": ".build",
    "fit_torch": ".fit",
    "load_experiment": ".build",
    "predict_prepared": ".prepared",
    "prepare": ".prepared",
    "prepare_from_cube": ".prepared",
    "search": ".tuning",
    "search_or_fit": ".tuning",
    "seed_everything": ".fit",
    "train_ensemble": ".ensemble",
    "train_experiment": ".experiment",
}

__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
