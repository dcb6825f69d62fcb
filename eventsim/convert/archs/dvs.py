"""``dvs_cnn``: the demo's small event CNN (``models/dvs.py``)."""

from __future__ import annotations

from ..trace import Value
from .common import Context, batchnorm, conv, lif, readout, register


@register("dvs_cnn", "demo CNN: conv16-pool-conv32-pool-fc, event input (2,34,34)", "events")
def build(ctx: Context, x: Value) -> None:
    b = ctx.builder
    x = lif(ctx, batchnorm(ctx, conv(ctx, x, "conv1", 16, 3, padding=1), "bn1", "conv"), "relu1")
    x = b.avgpool(x, "pool1", 2)
    x = lif(ctx, batchnorm(ctx, conv(ctx, x, "conv2", 32, 3, padding=1), "bn2", "conv"), "relu2")
    x = b.avgpool(x, "pool2", 2)
    readout(ctx, x, "fc")
