"""Recipe runner: a YAML file names a small Python module and its config; run it on Dask.

A recipe is two files side by side in ``recipes/``::

    recipes/site_cube.yaml      # recipe: site_cube, plus a config: mapping
    recipes/site_cube.py        # a frozen dataclass ``Config`` and ``run(cfg, ctx)``

The module's ``run`` calls the same public functions a notebook would; the runner only
parses the config strictly, starts (or connects to) a Dask cluster, and hands a
:class:`RecipeContext` with the output folder and the client. Outputs already complete are
skipped on a re-run (``ctx.done(path)``), so an interrupted recipe resumes.

Examples
--------
>>> ctx = RecipeContext(output=Path("out"), client=None)
>>> ctx.path("maps", "nee.nc")
PosixPath('out/maps/nee.nc')
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import xarray as xr

from .config.serialise import dump_config, from_dict, load_config
from .errors import ConfigError

__all__ = ["RecipeContext", "RecipeFile", "cluster", "load_recipe", "run_recipe"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecipeFile:
    """The top level of a recipe YAML (strict: unknown keys are refused).

    Attributes
    ----------
    recipe
        Name of the module beside the YAML (``recipe: site_cube`` -> ``site_cube.py``).
    description
        One line saying what the recipe makes.
    config
        The mapping the module's ``Config`` dataclass is built from.

    Examples
    --------
    >>> from_dict(RecipeFile, {"recipe": "quickstart"}).config is None
    True
    """

    recipe: str | None = None
    description: str = ""
    config: dict[str, Any] | None = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` when no module is named."""
        if not self.recipe:
            raise ConfigError("'recipe' must name the module beside it, e.g. 'recipe: quickstart'")


@dataclass
class RecipeContext:
    """What a recipe's ``run`` receives besides its config.

    Attributes
    ----------
    output
        Folder for all outputs of this run (created by the runner).
    client
        The ``distributed.Client`` the recipe runs on (``None``: local threads).
    overwrite
        Recompute outputs even when they exist.
    log
        Messages recorded with :meth:`note` (also logged to the ``fluxgrid.recipe`` logger).
    """

    output: Path
    client: Any = None
    overwrite: bool = False
    log: list[str] = field(default_factory=list)

    def path(self, *parts: str) -> Path:
        """Path under the output folder (parent folders are created)."""
        target = self.output.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def done(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` is complete and may be skipped (never when ``overwrite``)."""
        exists = Path(path).exists()
        if exists and not self.overwrite:
            self.note(f"skip {path} (exists; pass --overwrite to recompute)")
        return exists and not self.overwrite

    def note(self, message: str) -> None:
        """Record a progress message and log it (level INFO, logger ``fluxgrid.recipe``)."""
        stamp = time.strftime("%H:%M:%S")
        line = f"[{stamp}] {message}"
        self.log.append(line)
        logger.info(line)

    def persist(self, ds: xr.Dataset) -> xr.Dataset:
        """``ds`` in memory: persisted on the cluster's workers, or computed here without one.

        Examples
        --------
        >>> ctx = RecipeContext(output=Path("out"))
        >>> ctx.persist(xr.Dataset({"x": ("t", [1.0])}).chunk()).x.chunks is None
        True
        """
        return ds.persist() if self.client is not None else ds.compute()


def load_recipe(path: str | os.PathLike) -> tuple[ModuleType, Any, dict[str, Any]]:
    """Read a recipe YAML and import its module; return (module, config, the YAML's keys).

    Raises
    ------
    ConfigError
        If the YAML is missing or has unknown top-level keys (see :class:`RecipeFile`), names
        no module, or its ``config`` does not match the module's ``Config`` dataclass.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found")
    top = load_config(path, RecipeFile)
    module_path = path.with_name(f"{top.recipe}.py")
    if not module_path.is_file():
        raise ConfigError(f"{path}: recipe module {module_path} not found")
    module = _import_recipe(top.recipe, module_path)
    try:
        cfg = from_dict(module.Config, top.config or {})
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return module, cfg, asdict(top)


def _import_recipe(name: str, module_path: Path) -> ModuleType:
    """The recipe module at ``module_path`` (not on ``sys.path``: found beside its YAML)."""
    spec = importlib.util.spec_from_file_location(f"fluxgrid_recipe_{name}", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for attr in ("Config", "run"):
        if not hasattr(module, attr):
            raise ConfigError(f"{module_path}: a recipe module defines {attr!r}")
    return module


@contextmanager
def cluster(
    scheduler: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` if given, else on a new ``LocalCluster``.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``), e.g. started by dask-jobqueue or
        dask-kubernetes; ``"threads"`` runs without a cluster on local threads.
    n_workers, threads_per_worker
        Size of the LocalCluster (defaults: Dask's choice for this machine).
    """
    if scheduler == "threads":
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
        ) as local,
        Client(local) as client,
    ):
        yield client


def run_recipe(
    path: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the recipe at ``path`` and return what its ``run`` returns (paths of outputs).

    Parameters
    ----------
    path
        Recipe YAML.
    output
        Output folder (default: ``runs/<recipe name>``).
    scheduler
        Dask scheduler address, ``"threads"``, or ``None`` for a LocalCluster.
    n_workers, threads_per_worker
        LocalCluster size.
    overwrite
        Recompute outputs that exist (otherwise they are skipped: the run resumes).
    """
    module, cfg, raw = load_recipe(path)
    out = Path(output) if output is not None else Path("runs") / raw["recipe"]
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / "recipe_config.yaml")
    with cluster(scheduler, n_workers, threads_per_worker) as client:
        ctx = RecipeContext(output=out, client=client, overwrite=overwrite)
        where = "local threads" if client is None else f"Dask cluster {client.scheduler.address}"
        ctx.note(f"recipe {raw['recipe']} on {where}; outputs in {out}")
        result = module.run(cfg, ctx)
        ctx.note(f"recipe {raw['recipe']} finished")
    return result or {}
