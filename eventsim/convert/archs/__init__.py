"""Architecture maps: one module per family, each registering ``build(ctx, x) -> None`` functions.

A map walks the PyTorch forward of its architecture on a :class:`~eventsim.convert.trace.Value`,
reading parameters through :class:`~eventsim.convert.params.Params`; ``ARCHS`` is the registry
(name -> :class:`ArchSpec`) the converter and ``eventsim convert --list-archs`` use.
"""

from __future__ import annotations

from . import dvs, resnet, vgg  # noqa: F401  (each registers its archs)
from .common import ARCHS, ArchSpec, Context  # noqa: F401
