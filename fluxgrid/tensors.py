"""The tensor boundary: the scaled cube as one tensor, batches gathered by index.

:class:`WindowCube` holds the scaled inputs of all sites as a single ``(site * time,
n_dynamic)`` tensor (plus ``(site, n_static)`` per-site inputs and the scaled target) on the
compute device. A batch of windows is one advanced-indexing gather::

    rows = (site_idx * n_time + end_idx)[:, None] - arange(lookback - 1, -1, -1)
    x = dynamic[rows]                        # (batch, lookback, n_dynamic)

so there is no per-sample Python, no DataLoader worker and no copy of the data per window.
When the cube does not fit on the GPU (``placement="auto"``), it stays in pinned host
memory, the gather runs on the host and only the batch is moved (non-blocking).

This is the only module that moves data into torch.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> from fluxgrid.windows import build_windows
>>> cube = load_demo_cube()
>>> index = build_windows(cube, ["ta", "sw_in", "vpd"], "nee", lookback=30)
>>> wc = WindowCube.from_dataset(cube, ["ta", "sw_in", "vpd"], target="nee", device="cpu")
>>> x, y = wc.gather(index.site_idx[:8], index.end_idx[:8], 30)
>>> tuple(x.shape), tuple(y.shape)
((8, 30, 5), (8,))
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from ._lazy import lazy_import
from .errors import DataNotFoundError, ModelError, WindowError
from .windows import WindowIndex, input_features

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .prep.scaling import Scaler

__all__ = ["WindowCube", "resolve_device"]

#: share of free GPU memory the cube may take with placement="auto"
_DEVICE_SHARE = 0.5


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other strings as given.

    Examples
    --------
    >>> resolve_device("cpu").type
    'cpu'
    """
    torch = lazy_import("torch")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for but CUDA is not available; use 'auto'")
    return dev


class WindowCube:
    """Scaled model inputs of a site cube as tensors, with batch gathers by index.

    Parameters
    ----------
    dynamic
        ``(site, time, n_dynamic)`` float32 (drivers, calendar features); missing values
        must not occur inside indexed windows (they are stored as 0).
    static
        ``(site, n_static)`` float32 per-site inputs, or ``None``.
    target
        ``(site, time)`` float32 scaled target (NaN where invalid), or ``None``.
    features
        Input names: dynamic first, then static (the last axis of a batch).
    sites, times
        Labels of the site and time axes.
    device
        Compute device (batches are returned there).
    placement
        ``device``: the cube lives on ``device``; ``host``: pinned CPU memory, gathered on
        the host and moved per batch; ``auto``: on the device when it takes less than half
        the free GPU memory.
    target_name
        Name of the target variable.
    """

    def __init__(
        self,
        dynamic: np.ndarray | torch.Tensor,
        static: np.ndarray | torch.Tensor | None,
        target: np.ndarray | torch.Tensor | None,
        *,
        features: Sequence[str],
        sites: np.ndarray,
        times: np.ndarray,
        device: str | torch.device = "auto",
        placement: Literal["auto", "device", "host"] = "auto",
        target_name: str | None = None,
    ):
        torch = lazy_import("torch")
        self.device = resolve_device(device) if isinstance(device, str) else device
        dyn = torch.as_tensor(
            np.asarray(dynamic, dtype=np.float32) if not torch.is_tensor(dynamic) else dynamic
        )
        if dyn.ndim != 3:
            raise WindowError(
                f"dynamic inputs must be (site, time, feature), got {tuple(dyn.shape)}"
            )
        self.n_site, self.n_time, self.n_dynamic = (int(s) for s in dyn.shape)
        dyn = torch.nan_to_num(dyn.float(), nan=0.0)
        st = None
        if static is not None:
            st = torch.as_tensor(
                np.asarray(static, dtype=np.float32) if not torch.is_tensor(static) else static
            ).float()
            if st.ndim != 2 or st.shape[0] != self.n_site:
                raise WindowError(f"static inputs must be (site, feature), got {tuple(st.shape)}")
            st = torch.nan_to_num(st, nan=0.0)
        self.n_static = 0 if st is None else int(st.shape[1])
        tgt = None
        if target is not None:
            tgt = torch.as_tensor(
                np.asarray(target, dtype=np.float32) if not torch.is_tensor(target) else target
            ).float()
            if tuple(tgt.shape) != (self.n_site, self.n_time):
                raise WindowError(f"target must be (site, time), got {tuple(tgt.shape)}")
        self.features = list(features)
        if len(self.features) != self.n_dynamic + self.n_static:
            raise WindowError(
                f"{len(self.features)} feature names for {self.n_dynamic + self.n_static} inputs"
            )
        self.sites = np.asarray(sites)
        self.times = np.asarray(times)
        self.target_name = target_name
        nbytes = dyn.numel() * 4 + (0 if tgt is None else tgt.numel() * 4)
        self.placement = self._choose_placement(placement, nbytes)
        store = self.device if self.placement == "device" else torch.device("cpu")
        pin = self.placement == "host" and self.device.type == "cuda"
        self._dyn = self._place(dyn.reshape(self.n_site * self.n_time, self.n_dynamic), store, pin)
        self._static = None if st is None else st.to(self.device)
        self._target = None if tgt is None else self._place(tgt.reshape(-1), store, pin)
        self._store = store
        self._offsets: dict[int, Any] = {}

    # ------------------------------------------------------------------ construction
    def _choose_placement(self, placement: str, nbytes: int) -> str:
        if self.device.type != "cuda":
            return "device"  # host and device are the same memory
        if placement != "auto":
            return placement
        torch = lazy_import("torch")
        free, _total = torch.cuda.mem_get_info(self.device)
        return "device" if nbytes < _DEVICE_SHARE * free else "host"

    @staticmethod
    def _place(t: torch.Tensor, where: torch.device, pin: bool) -> torch.Tensor:
        t = t.contiguous()
        if pin:
            return t.pin_memory()
        return t.to(where)

    @classmethod
    def from_dataset(
        cls,
        ds: xr.Dataset,
        drivers: Sequence[str],
        *,
        target: str | None = None,
        scaler: Scaler | None = None,
        static: Sequence[str] = ("doy",),
        igbp_classes: Sequence[str] | None = None,
        fill_gaps: int = 0,
        features: xr.Dataset | None = None,
        device: str = "auto",
        placement: Literal["auto", "device", "host"] = "auto",
    ) -> WindowCube:
        """Build the tensors from a site cube: features, scaling, one transfer.

        Parameters
        ----------
        ds
            Site cube (targets QC-masked).
        drivers
            Driver variables, in input order.
        target
            Target variable (``None``: inputs only, for prediction).
        scaler
            Fitted scaler; drivers, ``site_lat``/``site_lon`` and the target are scaled
            (calendar sine/cosine and the IGBP one-hot are used as they are). ``None``
            leaves values unscaled.
        static, igbp_classes, fill_gaps
            See :func:`fluxgrid.windows.input_features`.
        features
            Prebuilt :func:`~fluxgrid.windows.input_features` output.
        device, placement
            See :class:`WindowCube`.
        """
        feats = features
        if feats is None:
            feats = input_features(
                ds, drivers, static=static, igbp_classes=igbp_classes, fill_gaps=fill_gaps
            )
        names = list(feats.attrs["features"])
        dynamic_names = [n for n in names if "time" in feats[n].dims]
        static_names = [n for n in names if "time" not in feats[n].dims]
        n_site, n_time = ds.sizes["site"], ds.sizes["time"]

        def scaled(name: str, values: np.ndarray) -> np.ndarray:
            if scaler is not None and name in scaler.center:
                return np.asarray(scaler.transform_values(values, name), dtype=np.float32)
            return values.astype(np.float32)

        dyn = np.empty((n_site, n_time, len(dynamic_names)), dtype=np.float32)
        for i, name in enumerate(dynamic_names):
            da = feats[name]
            values = da.transpose("site", "time").values if da.ndim == 2 else da.values[None, :]
            dyn[:, :, i] = scaled(name, np.asarray(values))
        st = None
        if static_names:
            st = np.stack([scaled(n, np.asarray(feats[n].values)) for n in static_names], axis=1)
        tgt = None
        if target is not None:
            if target not in ds:
                raise DataNotFoundError(f"target {target!r} is not in the cube")
            tgt = scaled(target, np.asarray(ds[target].transpose("site", "time").values))
        return cls(
            dyn,
            st,
            tgt,
            features=dynamic_names + static_names,
            sites=ds["site"].values,
            times=ds["time"].values,
            device=device,
            placement=placement,
            target_name=target,
        )

    # ------------------------------------------------------------------ gathering
    @property
    def nbytes(self) -> int:
        """Bytes of the stored tensors."""
        n = self._dyn.numel() * 4
        if self._target is not None:
            n += self._target.numel() * 4
        if self._static is not None:
            n += self._static.numel() * 4
        return int(n)

    def _offset(self, lookback: int) -> torch.Tensor:
        if lookback not in self._offsets:
            torch = lazy_import("torch")
            self._offsets[lookback] = torch.arange(lookback - 1, -1, -1, device=self._store)
        return self._offsets[lookback]

    def _as_index(self, values: Any) -> torch.Tensor:
        torch = lazy_import("torch")
        if torch.is_tensor(values):
            return values.to(self._store, dtype=torch.int64)
        return torch.as_tensor(np.asarray(values, dtype=np.int64), device=self._store)

    def gather(
        self, site_idx: Any, end_idx: Any, lookback: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Gather a batch of windows.

        Parameters
        ----------
        site_idx, end_idx
            Integer arrays or tensors ``(batch,)``.
        lookback
            Steps per window.

        Returns
        -------
        x : torch.Tensor
            ``(batch, lookback, n_features)`` on :attr:`device`, oldest step first; the last
            step is the target step.
        y : torch.Tensor or None
            ``(batch,)`` scaled targets (NaN where the cube has none).

        Raises
        ------
        WindowError
            If a window starts before the record.
        """
        torch = lazy_import("torch")
        s = self._as_index(site_idx)
        e = self._as_index(end_idx)
        if e.numel() and int(e.min()) < lookback - 1:
            raise WindowError(
                f"a window ends at step {int(e.min())}, before a full {lookback}-step look-back"
            )
        flat = s * self.n_time + e
        rows = flat[:, None] - self._offset(lookback)[None, :]
        if self.placement == "host" and self.device.type == "cuda":
            # gather on the host into page-locked memory, then an asynchronous copy
            x = torch.empty((rows.numel(), self.n_dynamic), dtype=self._dyn.dtype, pin_memory=True)
            torch.index_select(self._dyn, 0, rows.reshape(-1), out=x)
            x = x.view(rows.shape[0], lookback, self.n_dynamic)
            x = x.to(self.device, non_blocking=True)
            y = None
            if self._target is not None:
                y = self._target[flat].pin_memory().to(self.device, non_blocking=True)
        else:
            x = self._dyn[rows].to(self.device)
            y = None if self._target is None else self._target[flat].to(self.device)
        if self._static is not None:
            st = self._static[s.to(self.device)]
            x = torch.cat([x, st[:, None, :].expand(-1, lookback, -1)], dim=-1)
        return x, y

    def batches(
        self,
        index: WindowIndex,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        max_batches: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
        """Iterate over ``index`` in batches of gathered windows.

        Yields
        ------
        x, y, positions
            The batch (see :meth:`gather`) and the positions of its samples in ``index``.
        """
        torch = lazy_import("torch")
        n = len(index)
        s_all = self._as_index(index.site_idx)
        e_all = self._as_index(index.end_idx)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(self._store)
        else:
            order = torch.arange(n, device=self._store)
        n_batches = math.ceil(n / batch_size)
        if max_batches is not None:
            n_batches = min(n_batches, max_batches)
        for b in range(n_batches):
            pos = order[b * batch_size : (b + 1) * batch_size]
            x, y = self.gather(s_all[pos], e_all[pos], index.lookback)
            yield x, y, pos

    def n_batches(self, n: int, batch_size: int, max_batches: int | None = None) -> int:
        """Batches per pass over ``n`` windows."""
        k = math.ceil(n / batch_size)
        return k if max_batches is None else min(k, max_batches)

    # ------------------------------------------------------------------ variants
    def feature_index(self, name: str) -> int:
        """Position of input ``name`` on the feature axis."""
        if name not in self.features:
            raise DataNotFoundError(f"input {name!r} is not a model input; inputs: {self.features}")
        return self.features.index(name)

    def with_feature(self, name: str, values: np.ndarray | torch.Tensor) -> WindowCube:
        """A copy sharing every tensor except input ``name``, replaced by ``values``.

        Used for permutation importance and response surfaces: the other inputs are not
        copied. ``values`` are scaled values, ``(site, time)`` for a dynamic input or
        ``(site,)`` for a static one.
        """
        torch = lazy_import("torch")
        i = self.feature_index(name)
        new = object.__new__(WindowCube)
        new.__dict__.update(self.__dict__)
        new._offsets = self._offsets
        vals = torch.as_tensor(
            np.asarray(values, dtype=np.float32) if not torch.is_tensor(values) else values
        ).float()
        if i < self.n_dynamic:
            if tuple(vals.shape) != (self.n_site, self.n_time):
                raise WindowError(
                    f"values for {name!r} must be (site, time) = {(self.n_site, self.n_time)}"
                )
            dyn = self._dyn.clone()
            dyn[:, i] = torch.nan_to_num(vals.reshape(-1), nan=0.0).to(dyn.device)
            new._dyn = dyn
        else:
            j = i - self.n_dynamic
            if tuple(vals.shape) != (self.n_site,):
                raise WindowError(f"values for {name!r} must be (site,) = {(self.n_site,)}")
            st = self._static.clone()
            st[:, j] = vals.to(st.device)
            new._static = st
        return new

    def feature_values(self, name: str) -> np.ndarray:
        """Scaled values of input ``name``: ``(site, time)`` or ``(site,)``."""
        i = self.feature_index(name)
        if i < self.n_dynamic:
            return self._dyn[:, i].reshape(self.n_site, self.n_time).cpu().numpy()
        return self._static[:, i - self.n_dynamic].cpu().numpy()

    def target_values(self) -> np.ndarray:
        """Scaled target ``(site, time)`` (NaN where invalid)."""
        if self._target is None:
            raise DataNotFoundError("this WindowCube was built without a target")
        return self._target.reshape(self.n_site, self.n_time).cpu().numpy()

    def __repr__(self) -> str:
        return (
            f"WindowCube({self.n_site} sites x {self.n_time} steps, features={self.features}, "
            f"device={self.device}, placement={self.placement}, {self.nbytes / 2**20:.1f} MiB)"
        )
