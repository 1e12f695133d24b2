"""Strict, serialisable configuration: plain data <-> frozen dataclasses, YAML files.

:func:`from_dict` builds a frozen dataclass from plain data and refuses unknown keys and wrong
types, naming the offending key path, so a typo in a YAML file fails before any work starts.
:func:`dump_config` writes the exact config into each run directory. This module knows no
stage: the dataclasses live in :mod:`fluxgrid.config.stages`,
:mod:`fluxgrid.config.experiment` and beside the stages they configure.

Examples
--------
>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Example:
...     threshold: float = 0.7
...     sites: tuple[str, ...] = ()
>>> from_dict(Example, {"threshold": 0.8, "sites": ["US-MMS"]})
Example(threshold=0.8, sites=('US-MMS',))
>>> from_dict(Example, {"treshold": 0.8})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: Example: unknown key 'treshold'; known keys: threshold, sites
>>> to_dict(Example(sites=("US-MMS",)))
{'threshold': 0.7, 'sites': ['US-MMS']}
"""

from __future__ import annotations

import dataclasses
import os
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from ..errors import ConfigError
from ..io.atomic import atomic_path

__all__ = [
    "bounded",
    "check_bounds",
    "dump_config",
    "from_dict",
    "load_config",
    "to_dict",
    "unknown_keys",
]

C = TypeVar("C")


# --------------------------------------------------------------------------- machinery
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against type ``tp`` and convert lists to tuples / dicts to dataclasses."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own error is the useful one
            return _coerce(value, options[0], path)
        for arg in options:
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{path}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, _path=path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _coerce(v, a, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_coerce(k, kt, path): _coerce(v, vt, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    return value


def bounded(default: Any, low: float | None = None, high: float | None = None) -> Any:
    """A dataclass field with ``default`` whose values must lie in ``[low, high]``.

    :func:`from_dict` refuses values outside, naming the key and the range (``None`` is
    allowed where the field's type allows it).

    Examples
    --------
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class QC:
    ...     threshold: float = bounded(0.7, 0, 1)
    >>> from_dict(QC, {"threshold": 7})
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ConfigError: QC.threshold: 7.0 is out of range; expected a value in [0, 1]
    """
    return dataclasses.field(default=default, metadata={"bounds": (low, high)})


def check_bounds(value: Any, bounds: tuple[float | None, float | None], path: str) -> None:
    """Raise :class:`ConfigError` if a number (or each of a tuple) lies outside ``bounds``."""
    low, high = bounds
    for v in value if isinstance(value, tuple) else (value,):
        if v is None or isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if (low is not None and v < low) or (high is not None and v > high):
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            raise ConfigError(f"{path}: {v!r} is out of range; expected a value in [{lo}, {hi}]")


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass a field holds (also inside ``X | None``), or ``None``."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        found = [_dataclass_of(arg) for arg in get_args(tp)]
        return next((f for f in found if f is not None), None)
    return None


def unknown_keys(cls: type, data: Any, path: str) -> list[str]:
    """Every unknown key in ``data`` and its nested sections, as messages with their paths.

    Examples
    --------
    >>> from fluxgrid.config import ExperimentConfig
    >>> data = {"epoch": 2, "train": {"l_r": 0.1, "epoch": 3}}
    >>> for message in unknown_keys(ExperimentConfig, data, "ExperimentConfig"):
    ...     print(message[:60])
    ExperimentConfig: unknown key 'epoch'; known keys: data, spl
    ExperimentConfig.train: unknown keys 'epoch', 'l_r'; known k
    """
    if not isinstance(data, dict):
        return []
    hints = get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(fields))
    found = []
    if unknown:
        keys = ", ".join(map(repr, unknown))
        word = "key" if len(unknown) == 1 else "keys"
        found.append(f"{path}: unknown {word} {keys}; known keys: {', '.join(fields)}")
    for name in fields:
        if name not in data:
            continue
        inner = _dataclass_of(hints[name])
        if inner is not None:
            found += unknown_keys(inner, data[name], f"{path}.{name}")
        elif get_origin(hints[name]) is dict and isinstance(data[name], dict):
            args = get_args(hints[name])
            value_cls = _dataclass_of(args[1]) if len(args) == 2 else None
            if value_cls is not None:
                for key, value in data[name].items():
                    found += unknown_keys(value_cls, value, f"{path}.{name}.{key}")
    return found


def from_dict(cls: type[C], data: dict[str, Any] | None, *, _path: str | None = None) -> C:
    """Build the frozen dataclass ``cls`` from plain data, strictly.

    Unknown keys (all of them, in every section, reported at once), wrong types and invalid
    literals raise :class:`ConfigError` naming the key path (``TrainConfig.optimizer.lr``) and
    what is expected.
    """
    path = _path or cls.__name__
    data = dict(data or {})
    hints = get_type_hints(cls)
    if _path is None:
        unknown = unknown_keys(cls, data, path)
        if unknown:
            raise ConfigError("; ".join(unknown))
    kwargs = {name: _coerce(value, hints[name], f"{path}.{name}") for name, value in data.items()}
    for f in dataclasses.fields(cls):
        if f.name in kwargs and "bounds" in f.metadata:
            check_bounds(kwargs[f.name], f.metadata["bounds"], f"{path}.{f.name}")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from err
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a config dataclass (tuples become lists), ready for YAML."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return value

    return plain(cfg)


def load_config(path: str | os.PathLike, cls: type[C], *, section: str | None = None) -> C:
    """Read a YAML file (or one ``section`` of it) into the dataclass ``cls``, strictly."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: missing section {section!r}")
        data = data[section]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def dump_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Write ``cfg`` as YAML to ``path`` atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path
