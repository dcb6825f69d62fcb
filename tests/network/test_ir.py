import numpy as np
import pytest

from eventsim.errors import ModelFormatError
from eventsim.network.ir import InputSpec, Network, Population, Projection, topological_order


def _net(pops, projs, order=None, **kw):
    return Network("t", pops, projs, order or [p.name for p in pops], **kw)


def _basic(weight_shape=(3, 2, 3, 3), target=(3, 4, 4), **proj_kw):
    pops = [Population("input", "input", (2, 6, 6)),
            Population("a", "ternary_lif", target, threshold=0.5, decay=0.25),
            Population("out", "readout", (2,))]
    projs = [Projection("c", "conv2d", "input", "a", weight=np.zeros(weight_shape), **proj_kw),
             Projection("fc", "dense", "a", "out", weight=np.zeros((2, int(np.prod(target)))))]
    return pops, projs


def test_valid_network_builds():
    net = _net(*_basic())
    assert net.output_population.name == "out"
    assert net.input_shape == (2, 6, 6)


@pytest.mark.parametrize("kw,match", [
    ({"weight_shape": (3, 1, 3, 3)}, "input channels"),
    ({"target": (3, 5, 5), "weight_shape": (3, 2, 3, 3)}, "produces shape"),
    ({"weight_shape": (3, 2, 3)}, "4-D"),
])
def test_shape_mismatch_is_rejected(kw, match):
    with pytest.raises(ModelFormatError, match=match):
        _net(*_basic(**kw))


def test_stride_padding_groups_checked():
    _net(*_basic(weight_shape=(4, 1, 3, 3), target=(4, 3, 3), stride=2, padding=1, groups=2))
    with pytest.raises(ModelFormatError, match="groups"):
        _net(*_basic(weight_shape=(3, 1, 3, 3), target=(3, 4, 4), groups=2))


@pytest.mark.parametrize("kwargs,match", [
    (dict(kind="nope", shape=(3,)), "unknown kind"),
    (dict(kind="ternary_lif", shape=(3,), threshold=0.0), "threshold"),
    (dict(kind="ternary_lif", shape=(3,), threshold=1.0, decay=1.5), "decay"),
    (dict(kind="if", shape=(3,), threshold=1.0, decay=0.5), "decay 1.0"),
    (dict(kind="binary_lif", shape=(3,), threshold=1.0, reset="hard"), "reset"),
    (dict(kind="readout", shape=(3,), threshold=1.0), "no threshold"),
    (dict(kind="ternary_lif", shape=(3,), threshold=1.0, multi_spike=True), "multi_spike"),
    (dict(kind="readout", shape=(3,), bias=np.zeros(2)), "bias"),
    (dict(kind="readout", shape=(0,)), "shape"),
])
def test_population_validation(kwargs, match):
    with pytest.raises(ModelFormatError, match=match):
        Population("p", **kwargs)


def test_order_must_be_topological():
    pops, projs = _basic()
    with pytest.raises(ModelFormatError, match="back to"):
        _net(pops, projs, order=["input", "out", "a"])
    with pytest.raises(ModelFormatError, match="every population"):
        _net(pops, projs, order=["input", "a"])


def test_input_channels_follow_polarity():
    pops, projs = _basic()
    with pytest.raises(ModelFormatError, match="polarity"):
        _net(pops, projs, input=InputSpec(polarity="signed"))


def test_unfed_population_and_missing_readout():
    pops, projs = _basic()
    with pytest.raises(ModelFormatError, match="no incoming"):
        _net(pops + [Population("x", "if", (1,), threshold=1)], projs)
    with pytest.raises(ModelFormatError, match="readout"):
        _net(pops[:2], projs[:1])


def test_topological_order_sorts_and_detects_cycles():
    assert topological_order(["b", "a", "input"], [("input", "a"), ("a", "b")]) == ["input", "a", "b"]
    with pytest.raises(ModelFormatError, match="recurrent"):
        topological_order(["input", "a", "b"], [("input", "a"), ("a", "b"), ("b", "a")])
