"""Recipe runner: a YAML file names a small Python module and its config; run it on Dask.

A recipe is two files side by side in ``recipes/``::

    recipes/site_cube.yaml      # recipe: site_cube, plus a config: mapping
    recipes/site_cube.py        # a frozen dataclass ``Config`` and ``run(cfg, ctx)``

The module's ``run`` calls the same public functions a notebook would; the runner only
parses the config strictly, starts (or connects to) a Dask cluster, and hands a
:class:`RecipeContext` with the output folder and the client. Outputs already complete are
skipped on a re-run (``ctx.done(path)``), so an interrupted recipe resumes.

What a run into an output folder guarantees:

* **One run per folder.** The run holds the lock file ``.FOLDER.lock`` beside the output
  folder from start to end (:func:`fluxgrid.io.atomic.write_lock`); a second run into the same
  folder meanwhile is refused with :class:`~fluxgrid.errors.OutputLockedError` naming the
  running process. Each output inside is written atomically under its own lock.
* **Outputs match their config.** ``recipe_config.yaml`` holds the config of the outputs and
  ``recipe_outputs.json`` maps each output the recipe checked with ``ctx.done`` to the hash
  of the config that made it (:data:`PROVENANCE_FILE`). A re-run with a changed config is
  refused with :class:`~fluxgrid.errors.OutputExistsError` naming the changed keys, and
  neither file is rewritten, unless ``overwrite`` (``--overwrite``) recomputes every output
  with the new config; an output recorded under another config is never skipped as done.

Examples
--------
>>> ctx = RecipeContext(output=Path("out"), client=None)
>>> ctx.path("maps", "nee.nc")
PosixPath('out/maps/nee.nc')
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
import yaml

from .config.serialise import dump_config, from_dict, load_config, to_dict
from .errors import ConfigError, OutputExistsError
from .io.atomic import atomic_path, write_lock

__all__ = [
    "CONFIG_FILE",
    "PROVENANCE_FILE",
    "OutputRecord",
    "RecipeContext",
    "RecipeFile",
    "cluster",
    "load_recipe",
    "run_recipe",
]

logger = logging.getLogger(__name__)

#: the config of the outputs in a recipe's output folder
CONFIG_FILE = "recipe_config.yaml"
#: ``{"format": 1, "recipe", "configs": {hash: {"recipe", "config"}}, "outputs": {relative
#: path: {"config": hash, "recorded": ISO time}}}`` in a recipe's output folder
PROVENANCE_FILE = "recipe_outputs.json"


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
    outputs
        The config record of the output folder (:class:`OutputRecord`; set by
        :func:`run_recipe`, ``None`` for a context made by hand).
    """

    output: Path
    client: Any = None
    overwrite: bool = False
    log: list[str] = field(default_factory=list)
    outputs: OutputRecord | None = None

    def path(self, *parts: str) -> Path:
        """Path under the output folder (parent folders are created)."""
        target = self.output.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def done(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` is complete and may be skipped (never when ``overwrite``).

        With an :class:`OutputRecord`, an existing output recorded under another config is
        refused (:class:`~fluxgrid.errors.OutputExistsError` naming the changed keys), and an
        output that is to be made is recorded with this run's config once it is written.
        """
        path = Path(path)
        if self.outputs is not None:
            self.outputs.flush()
        if self.overwrite or not path.exists():
            if self.outputs is not None:
                self.outputs.expect(path)
            return False
        if self.outputs is not None:
            self.outputs.confirm(path)
        self.note(f"skip {path} (exists; pass --overwrite to recompute)")
        return True

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


def _plain(value: Any) -> Any:
    """``value`` as YAML writes and reads it back (how ``recipe_config.yaml`` compares)."""
    return yaml.safe_load(yaml.safe_dump(value, sort_keys=False))


def _flat(mapping: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b": value}``."""
    if not isinstance(mapping, dict):
        return {prefix.rstrip("."): mapping}
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def changed_keys(old: Any, new: Any) -> list[str]:
    """The keys whose values differ between two configs, as ``key: old -> new``.

    Examples
    --------
    >>> changed_keys({"to": "daily", "qc": {"t": 0.7}}, {"to": "monthly", "qc": {"t": 0.7}})
    ["to: 'daily' -> 'monthly'"]
    """
    a, b = _flat(old), _flat(new)
    missing = object()
    lines = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key, missing), b.get(key, missing)
        if before != after:
            left = "(not set)" if before is missing else _short(before)
            right = "(not set)" if after is missing else _short(after)
            lines.append(f"{key}: {left} -> {right}")
    return lines


def _file_state(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@dataclass
class OutputRecord:
    """Which config made each output of a recipe's output folder (``recipe_outputs.json``).

    Attributes
    ----------
    folder
        The output folder.
    recipe
        The recipe's name.
    config
        This run's config as plain data (as ``recipe_config.yaml`` holds it).
    digest
        First 16 hex digits of the SHA-256 of ``{"recipe", "config"}`` (JSON, sorted keys).
    data
        The content of :data:`PROVENANCE_FILE` (``configs`` by hash, ``outputs`` by path
        relative to the folder).

    Examples
    --------
    >>> import tempfile
    >>> record = OutputRecord.open(Path(tempfile.mkdtemp()), "demo", {"to": "daily"})
    >>> len(record.digest), record.data["outputs"]
    (16, {})
    """

    folder: Path
    recipe: str
    config: dict[str, Any]
    digest: str
    data: dict[str, Any]
    pending: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path, recipe: str, config: Any) -> OutputRecord:
        """The record of ``folder`` (empty when it has none) for a run of ``config``."""
        plain = _plain(config)
        text = json.dumps({"recipe": recipe, "config": plain}, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        path = folder / PROVENANCE_FILE
        data: dict[str, Any] = {"format": 1, "recipe": recipe, "configs": {}, "outputs": {}}
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except ValueError as err:
                data = {"error": str(err)}
            if not (
                isinstance(data, dict)
                and isinstance(data.get("configs"), dict)
                and isinstance(data.get("outputs"), dict)
            ):
                raise ConfigError(
                    f"{path}: not a record of recipe outputs (expected JSON with 'configs' and "
                    "'outputs' mappings); delete it to take the outputs there as made by this "
                    "config, or pass --overwrite to recompute them"
                )
        return cls(folder, recipe, plain, digest, data)

    def _old_config(self, digest: str) -> dict[str, Any] | None:
        return self.data["configs"].get(digest)

    def _mine(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "config": self.config}

    def _refusal(self, what: str, old: Any) -> OutputExistsError:
        keys = changed_keys(old, self._mine()) if old is not None else []
        detail = "; ".join(keys) if keys else "the earlier config is not recorded"
        return OutputExistsError(
            f"{self.folder}: {what} made by another config of the recipe ({detail}). Pass "
            "--overwrite (run_recipe(..., overwrite=True)) to recompute every output with this "
            "config, or choose another output folder (-o)"
        )

    def check_folder(self) -> None:
        """Refuse a run whose config differs from the folder's outputs (without overwrite)."""
        config_file = self.folder / CONFIG_FILE
        if config_file.exists():
            try:
                old = yaml.safe_load(config_file.read_text())
            except yaml.YAMLError as err:
                raise ConfigError(f"{config_file}: not valid YAML ({err})") from None
            recipe = self.data.get("recipe", self.recipe)
            if {"recipe": recipe, "config": old} != self._mine():
                raise self._refusal(
                    f"the outputs there (config in {CONFIG_FILE}) were",
                    {"recipe": recipe, "config": old},
                )
        for rel, entry in sorted(self.data["outputs"].items()):
            if entry.get("config") != self.digest and (self.folder / rel).exists():
                raise self._refusal(f"{rel} was", self._old_config(entry.get("config")))

    def _relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    def expect(self, path: Path) -> None:
        """Note that this run makes ``path``; recorded once it is written (:meth:`flush`)."""
        self.pending[self._relative(path)] = _file_state(path)

    def confirm(self, path: Path) -> None:
        """Accept an existing output of this config (refuse one of another config)."""
        rel = self._relative(path)
        entry = self.data["outputs"].get(rel)
        if entry is None:
            # no record (made before records were kept, or killed before recording); the
            # folder's recipe_config.yaml matches this config (check_folder)
            self._record([rel])
        elif entry.get("config") != self.digest:
            raise self._refusal(f"{rel} was", self._old_config(entry.get("config")))

    def flush(self) -> None:
        """Record the expected outputs that have been written since."""
        written = [
            rel
            for rel, before in self.pending.items()
            if (now := _file_state(self.folder / rel)) is not None and now != before
        ]
        for rel in written:
            del self.pending[rel]
        if written:
            self._record(written)

    def _record(self, rels: list[str]) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.data["configs"][self.digest] = self._mine()
        for rel in rels:
            self.data["outputs"][rel] = {"config": self.digest, "recorded": stamp}
        self.save()

    def save(self) -> None:
        """Write :data:`PROVENANCE_FILE` atomically."""
        self.data["configs"][self.digest] = self._mine()
        self.data["recipe"] = self.recipe
        with atomic_path(self.folder / PROVENANCE_FILE) as tmp:
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True, default=str) + "\n")


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
        Recompute outputs that exist (otherwise they are skipped: the run resumes), also
        when the folder's outputs were made by another config.

    Raises
    ------
    OutputLockedError
        Another run writes into the same output folder now.
    OutputExistsError
        The folder holds outputs of another config (the message names the changed keys) and
        ``overwrite`` was not given; nothing is run and nothing in the folder is changed.
    """
    module, cfg, raw = load_recipe(path)
    out = Path(output) if output is not None else Path("runs") / raw["recipe"]
    with write_lock(out):
        out.mkdir(parents=True, exist_ok=True)
        record = OutputRecord.open(out, raw["recipe"], to_dict(cfg))
        if not overwrite:
            record.check_folder()
        dump_config(cfg, out / CONFIG_FILE)
        record.save()
        with cluster(scheduler, n_workers, threads_per_worker) as client:
            ctx = RecipeContext(output=out, client=client, overwrite=overwrite, outputs=record)
            where = (
                "local threads" if client is None else f"Dask cluster {client.scheduler.address}"
            )
            ctx.note(f"recipe {raw['recipe']} on {where}; outputs in {out}")
            try:
                result = module.run(cfg, ctx)
            finally:
                record.flush()
            ctx.note(f"recipe {raw['recipe']} finished")
    return result or {}
