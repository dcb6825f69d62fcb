"""Checked access to a checkpoint's tensors by PyTorch module path.

Architecture maps ask for parameters by the plain module path (``layer1.0.conv1``) and the
paper wrapper's attribute (``pool`` for a convolution, ``conv`` for a Linear or a top-level
BatchNorm, ``bn`` for a block BatchNorm). A checkpoint in the paper's naming stores
``model.<path>.<wrapper>.<name>``; a plain (torchvision-style) one stores ``<path>.<name>``.
Every access checks the shape; :meth:`Params.finish` refuses keys that no layer used.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from ..errors import ConversionError

# Present in the paper's checkpoints but not part of inference.
_UNUSED_SUFFIXES = ("num_batches_tracked",)
_UNUSED_KEYS = ("model.scale", "scale")


class Params:
    """The state dict of one checkpoint, with shape checks and a record of used keys."""

    def __init__(self, state: dict[str, np.ndarray], path: str, arch: str):
        self.state = state
        self.path = path
        self.arch = arch
        self.paper_names = any(k.startswith("model.") for k in state)
        self.used: set[str] = set()

    def key(self, module: str, wrapper: str | None, name: str) -> str:
        """The key of parameter ``name`` of ``module`` in this checkpoint's naming style."""
        if self.paper_names:
            return f"model.{module}.{wrapper}.{name}" if wrapper else f"model.{module}.{name}"
        return f"{module}.{name}"

    @overload
    def get(self, module: str, wrapper: str | None, name: str, shape: tuple | None = None,
            required: Literal[True] = True) -> np.ndarray: ...
    @overload
    def get(self, module: str, wrapper: str | None, name: str, shape: tuple | None = None, *,
            required: bool) -> np.ndarray | None: ...

    def get(self, module: str, wrapper: str | None, name: str, shape: tuple | None = None,
            required: bool = True) -> np.ndarray | None:
        """The tensor as float64; ``shape`` may hold None for a free dimension."""
        key = self.key(module, wrapper, name)
        if key not in self.state:
            if required:
                raise ConversionError(f"{self.path}: missing key {key!r} (arch {self.arch})")
            return None
        arr = np.asarray(self.state[key])
        if shape is not None and (arr.ndim != len(shape) or any(
                want is not None and want != got for want, got in zip(shape, arr.shape))):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ConversionError(f"{self.path}: {key}: expected shape {want}, got {tuple(arr.shape)}")
        if arr.dtype.kind not in "fiub":
            raise ConversionError(f"{self.path}: {key}: unsupported dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ConversionError(f"{self.path}: {key}: contains NaN or infinite values")
        self.used.add(key)
        return arr

    def fire_ratio(self, module: str, channels: int) -> np.ndarray:
        """The amplitude alpha of LIF ``module`` as a (channels,) vector; absent means 1."""
        key = self.key(module, None, "fire_ratio")
        if key not in self.state:
            return np.ones(channels)
        arr = np.asarray(self.state[key])
        if arr.size == 1:
            alpha = np.full(channels, float(arr.ravel()[0]))
        elif arr.shape in ((1, channels, 1, 1), (channels,), (1, channels)):
            alpha = arr.reshape(channels).astype(np.float64)
        else:
            raise ConversionError(f"{self.path}: {key}: expected shape () or (1, {channels}, 1, 1), "
                                  f"got {tuple(arr.shape)}")
        if not np.all(np.isfinite(alpha)):
            raise ConversionError(f"{self.path}: {key}: contains NaN or infinite values")
        self.used.add(key)
        return alpha

    def finish(self) -> None:
        """Raise if the checkpoint has keys that the architecture does not use."""
        extra = sorted(k for k in self.state if k not in self.used and k not in _UNUSED_KEYS
                       and not k.endswith(_UNUSED_SUFFIXES))
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise ConversionError(f"{self.path}: unexpected key {extra[0]!r}{more} for arch "
                                  f"{self.arch}: wrong --arch or a modified network?")
