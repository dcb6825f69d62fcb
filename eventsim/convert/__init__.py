"""PyTorch checkpoints -> eventsim IR, without torch: safe loading, arch maps, folding.

``convert_checkpoint(path, arch, timesteps, input_shape, ...)`` returns a Network;
``convert_to_file`` also writes ``model.h5`` (``convert_nir_to_file`` from a NIR graph);
``list_archs()`` names the supported archs.
"""

from __future__ import annotations

from .api import (  # noqa: F401
    convert_checkpoint,
    convert_nir_to_file,
    convert_state_dict,
    convert_to_file,
    list_archs,
)
from .checkpoint import load_state_dict  # noqa: F401
