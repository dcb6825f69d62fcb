import numpy as np
import pytest

from eventsim.errors import ModelFormatError
from eventsim.network.compose import compose_pool
from eventsim.network.ir import Projection
from eventsim.network.linear import apply_projection


@pytest.mark.parametrize("seed", range(30))
def test_pool_then_conv_or_dense_equals_chain(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 4))
    k = int(rng.integers(1, 4))
    s = int(rng.integers(1, 3))
    hp, wp = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    h, w = s * (hp - 1) + k, s * (wp - 1) + k  # the pool tiles the input exactly
    pool = Projection("pool", "sumpool2d", "a", "b", kernel_size=k, stride=s)
    factor = 1.0 / (k * k)
    x = rng.normal(size=(c, h, w))
    pooled = apply_projection(pool, x, (c, hp, wp)) * factor
    if rng.random() < 0.5:
        nxt = Projection("fc", "dense", "b", "c", weight=rng.normal(size=(3, c * hp * wp)))
        tshape = (3,)
    else:
        k2, p2 = int(rng.integers(1, 4)), int(rng.integers(0, 2))
        k2 = min(k2, hp + 2 * p2, wp + 2 * p2)
        nxt = Projection("conv", "conv2d", "b", "c", weight=rng.normal(size=(2, c, k2, k2)),
                         padding=p2)
        tshape = nxt.output_shape((c, hp, wp))
    want = apply_projection(nxt, pooled, tshape)
    if nxt.kind == "conv2d" and k > s and nxt.padding[0] > 0:
        # overlapping windows: a padding cell of the pooled map would cover real input pixels
        with pytest.raises(ModelFormatError, match="exactly"):
            compose_pool(pool, nxt, (c, h, w), factor=factor)
        return
    comp = compose_pool(pool, nxt, (c, h, w), factor=factor)
    np.testing.assert_allclose(apply_projection(comp, x, tshape), want, atol=1e-10)
    assert comp.source == "a" and comp.target == "c"


def test_inexact_composition_is_refused():
    # 5x5 input, 2x2 pool stride 2 drops the last row/column; a padded conv would read them
    pool = Projection("pool", "sumpool2d", "a", "b", kernel_size=2, stride=2)
    nxt = Projection("conv", "conv2d", "b", "c", weight=np.ones((1, 1, 3, 3)), padding=1)
    with pytest.raises(ModelFormatError, match="exactly"):
        compose_pool(pool, nxt, (1, 5, 5))
