"""The one place that sets Numba options for the engine kernels.

``cache=True`` keeps the second CLI call fast (compiled code is stored beside the module);
no ``fastmath``: results must not depend on the build (float sums are not reassociated).
"""

from __future__ import annotations

import numba

JIT_OPTIONS = {"cache": True, "nogil": True}


def kernel(fn):
    """Compile ``fn`` as an engine kernel with the project's Numba options."""
    return numba.njit(**JIT_OPTIONS)(fn)
