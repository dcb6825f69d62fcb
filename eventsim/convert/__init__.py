"""PyTorch checkpoints -> eventsim IR, without torch: safe loading, arch maps, folding.

``convert_checkpoint(path, arch, timesteps, input_shape, ...)`` returns a Network;
``convert_to_file`` also writes ``model.h5``; ``list_archs()`` names the supported archs.
"""

from __future__ import annotations

from .api import convert_checkpoint, convert_state_dict, convert_to_file, list_archs  # noqa: F401
from .checkpoint import load_state_dict  # noqa: F401
