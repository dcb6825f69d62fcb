"""Caps on what a model-side file may declare, checked before anything is allocated or read.

A few hundred bytes can declare a tensor of 10^10 elements, a graph whose paths number 2^40 or
a JSON document nested 100,000 levels deep. Every reader of models, checkpoints, NIR graphs,
energy tables and manifests checks what a file *declares* against these caps first and fails
with one line naming the number, so neither memory nor time depends on a hostile header.
The caps sit far above every real model eventsim targets (ResNet-34 at 224x224: ~4 M neurons,
22 M parameters; a NIR export of it: ~100 nodes).
"""

from __future__ import annotations

import json

from ..errors import brief
from ..events.binning import MAX_STEPS

MAX_TIMESTEPS = MAX_STEPS  # time steps a model may ask for: as many as a run may have
MAX_DELAY = MAX_STEPS  # steps a projection may delay its spikes (more would only deliver nothing)
MAX_NEURONS = 100_000_000  # neurons over all populations of one network
MAX_PARAMETER_BYTES = 2 << 30  # bytes of weights, biases and tensors declared by one file
MAX_GRAPH_NODES = 10_000  # NIR nodes, or model.h5 populations + projections
MAX_GRAPH_EDGES = 50_000  # NIR edges
MAX_PATHS = 10_000  # chains of linear NIR nodes that end in one population
MAX_KEYS = 100_000  # names in a checkpoint's (nested) state dict
MAX_DEPTH = 64  # nesting of JSON documents and of a checkpoint's dicts
MAX_JSON_BYTES = 16 << 20  # a provenance text, an energy table or a manifest
MAX_CLASSES = 100_000  # class labels of a dataset manifest


class LimitExceeded(ValueError):
    """A declared size above a cap; readers re-raise it as their own error with the file name."""


def check_cap(what: str, value: int, cap: int) -> None:
    """Raise LimitExceeded when ``value`` (declared by a file) exceeds ``cap``."""
    if value > cap:
        raise LimitExceeded(f"{what} is {value:,}, more than eventsim's limit of {cap:,}")


def nesting_depth(obj) -> int:
    """Deepest nesting of lists/tuples/dicts in ``obj``, found without recursion."""
    deepest = 0
    stack = [(obj, 0)]
    seen: set[int] = set()
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple)) or id(item) in seen:
            continue
        seen.add(id(item))
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        stack.extend((v, depth) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_depth(obj, what: str) -> None:
    if nesting_depth(obj) > MAX_DEPTH:
        raise LimitExceeded(f"{what} is nested more than {MAX_DEPTH} levels deep")


def load_json(text: str | bytes, what: str):
    """``json.loads`` for text read from a file: size and depth capped, one ValueError kind.

    Raises LimitExceeded (too large or too deep) or ValueError (not JSON) with a short reason;
    never RecursionError, and never a number echoed in full.
    """
    check_cap(f"{what} size (bytes)", len(text), MAX_JSON_BYTES)
    try:
        doc = json.loads(text)
    except RecursionError:
        raise LimitExceeded(f"{what} is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{what} is not valid JSON ({brief(str(exc), 80)})") from None
    check_depth(doc, what)
    return doc
