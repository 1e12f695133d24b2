"""Feature scaling fitted on the training part only, saved as JSON with each run.

:func:`fit_scaler` takes the split (or an explicit boolean mask) and uses only the values of
training steps: validation and test values never influence the scaling. The fitted
:class:`Scaler` records how many values it saw per variable and which part, and round-trips
through JSON (``scaler.json`` in a run directory), so a trained model can be applied later
to new drivers (sites or grids) with exactly the same transformation.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> from fluxgrid.prep.splits import temporal_split
>>> cube = load_demo_cube()
>>> split = temporal_split(cube)
>>> scaler = fit_scaler(cube, ["ta", "nee"], split=split)
>>> scaled = scaler.transform(cube)
>>> abs(float(scaled.ta.where(split.part == 1).mean())) < 1e-5
True
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import DataNotFoundError, FileFormatError, SplitError, UnitError
from ..io.atomic import atomic_path, check_writable
from .splits import TRAIN

__all__ = ["Scaler", "fit_scaler", "load_scaler"]


@dataclasses.dataclass(frozen=True)
class Scaler:
    """Per-variable affine scaling ``(x - center) / scale``.

    Attributes
    ----------
    center, scale
        Per variable name (``scale`` is never 0: constant variables get 1).
    method
        ``standard`` (mean, standard deviation) or ``minmax`` (minimum, range).
    n_values
        Number of values each statistic was computed from.
    fitted_on
        Which part of the data was used (e.g. ``"part == train (1)"``).
    units
        Units of each variable (checked when the scaler is applied to new data).
    """

    center: dict[str, float]
    scale: dict[str, float]
    method: Literal["standard", "minmax"] = "standard"
    n_values: dict[str, int] = dataclasses.field(default_factory=dict)
    fitted_on: str = ""
    units: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        """Names of the scaled variables."""
        return list(self.center)

    def _check(self, name: str) -> None:
        if name not in self.center:
            raise DataNotFoundError(
                f"the scaler has no statistics for {name!r}; it was fitted on {self.variables}"
            )

    def transform_values(self, values: Any, name: str) -> Any:
        """Scale an array (numpy, torch or xarray) of variable ``name``."""
        self._check(name)
        return (values - np.float32(self.center[name])) / np.float32(self.scale[name])

    def inverse_values(self, values: Any, name: str) -> Any:
        """Undo :meth:`transform_values` (e.g. model outputs back to gC m-2 d-1)."""
        self._check(name)
        return values * np.float32(self.scale[name]) + np.float32(self.center[name])

    def transform(self, ds: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
        """Scale the variables of ``ds`` the scaler knows (or ``variables``), float32.

        Raises
        ------
        DataNotFoundError
            If a requested variable has no statistics.
        FluxgridError
            If a variable's units differ from those seen at fitting time.
        """
        names = list(variables) if variables is not None else [v for v in self.center if v in ds]
        out = ds.copy()
        for name in names:
            self._check(name)
            if name not in ds:
                raise DataNotFoundError(f"variable {name!r} to scale is not in the data")
            have = ds[name].attrs.get("units")
            want = self.units.get(name)
            if have and want and have != want:
                raise UnitError(
                    f"{name!r} is in {have!r} but the scaler was fitted on {want!r}; "
                    f"convert it to {want!r} first"
                )
            scaled = self.transform_values(ds[name].astype(np.float32), name)
            scaled.attrs = {"long_name": f"scaled {name}", "units": "1"}
            out[name] = scaled.astype(np.float32)
        return out

    def inverse(self, da: xr.DataArray, name: str) -> xr.DataArray:
        """Back to physical units of ``name`` (``units`` attribute restored)."""
        out = self.inverse_values(da, name)
        out.attrs = {"units": self.units.get(name, "")}
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what :meth:`to_json` writes)."""
        return dataclasses.asdict(self)

    def to_json(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        """Write the scaler as JSON, atomically."""
        path = check_writable(path, overwrite)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                center={k: float(v) for k, v in data["center"].items()},
                scale={k: float(v) for k, v in data["scale"].items()},
                method=data.get("method", "standard"),
                n_values={k: int(v) for k, v in data.get("n_values", {}).items()},
                fitted_on=str(data.get("fitted_on", "")),
                units={k: str(v) for k, v in data.get("units", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise FileFormatError(
                None, f"not a fluxgrid scaler ({err})", expected="center and scale mappings"
            ) from err


def load_scaler(path: str | os.PathLike) -> Scaler:
    """Read a scaler written by :meth:`Scaler.to_json`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise FileFormatError(path, f"cannot be read as a scaler JSON ({err})") from err
    try:
        return Scaler.from_dict(data)
    except FileFormatError as err:
        raise FileFormatError(path, str(err)) from None


def fit_scaler(
    ds: xr.Dataset,
    variables: Sequence[str],
    *,
    split: xr.Dataset | None = None,
    mask: xr.DataArray | None = None,
    method: Literal["standard", "minmax"] = "standard",
) -> Scaler:
    """Fit per-variable scaling on the training steps only.

    Parameters
    ----------
    ds
        Site cube (variables with dims ``(site, time)``, or ``(site,)`` for static inputs
        such as latitude, or ``(time,)``).
    variables
        Variables to fit.
    split
        A split (:mod:`fluxgrid.prep.splits`): statistics use steps with ``part == train``.
    mask
        Alternatively an explicit boolean ``(site, time)`` mask of the steps to use.
    method
        ``standard`` or ``minmax``.

    Returns
    -------
    Scaler

    Raises
    ------
    SplitError
        If neither ``split`` nor ``mask`` is given (there is no "fit on everything"), or the
        training part holds no value of a variable.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> from fluxgrid.prep.splits import random_year_split
    >>> cube = load_demo_cube()
    >>> scaler = fit_scaler(cube, ["ta"], split=random_year_split(cube, seed=0))
    >>> scaler.n_values["ta"] > 0
    True
    """
    if (split is None) == (mask is None):
        raise SplitError(
            "fit_scaler needs exactly one of split= (fits on part == train) or mask=; "
            "scaling is never fitted on validation or test data"
        )
    if split is not None:
        train = split["part"] == TRAIN
        fitted_on = f"part == train ({TRAIN}) of split '{split.attrs.get('method', '')}'"
    else:
        train = mask.astype(bool)
        fitted_on = "explicit mask"
    center, scale, counts, units = {}, {}, {}, {}
    for name in variables:
        if name not in ds:
            raise DataNotFoundError(
                f"cannot scale {name!r}: not in the cube ({list(ds.data_vars)})"
            )
        values = _training_values(ds[name], train)
        if values.size == 0:
            raise SplitError(
                f"the training part holds no value of {name!r}; check the split and the data"
            )
        if method == "standard":
            c, s = float(values.mean()), float(values.std())
        else:
            c, s = float(values.min()), float(values.max() - values.min())
        center[name] = c
        scale[name] = s if s > 0 and np.isfinite(s) else 1.0
        counts[name] = int(values.size)
        units[name] = str(ds[name].attrs.get("units", ""))
    return Scaler(
        center=center, scale=scale, method=method, n_values=counts, fitted_on=fitted_on, units=units
    )


def _training_values(da: xr.DataArray, train: xr.DataArray) -> np.ndarray:
    """Finite values of ``da`` on training steps, float64, flat.

    Per-site inputs ``(site,)`` count at sites with any training step, per-time inputs
    ``(time,)`` at steps where any site trains.
    """
    if set(da.dims) == {"site"}:
        use = train.any("time")
    elif set(da.dims) == {"time"}:
        use = train.any("site")
    else:
        use = train
    values = np.asarray(da.where(use).values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]
