"""The model IR and its file formats."""

from .h5io import load_model, save_model
from .ir import InputSpec, Network, Population, Projection

__all__ = ["InputSpec", "Network", "Population", "Projection", "load_model", "save_model"]
