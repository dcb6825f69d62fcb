"""The paper's CIFAR VGG-16 (``models/vgg.py``): ``vgg16`` (conv bias, no BN) and ``vgg16_bn``."""

from __future__ import annotations

from ..trace import Value
from .common import Context, batchnorm, conv, lif, readout, register

CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg(batch_norm: bool):
    def build(ctx: Context, x: Value) -> None:
        idx = 0
        for v in CFG_D:
            if isinstance(v, str):  # "M": a pool
                x = ctx.builder.avgpool(x, f"features.{idx}", 2, 2)
                idx += 1
                continue
            x = conv(ctx, x, f"features.{idx}", v, 3, 1, 1, bias=True)
            idx += 1
            if batch_norm:
                x = batchnorm(ctx, x, f"features.{idx}", "conv")
                idx += 1
            x = lif(ctx, x, f"features.{idx}")
            idx += 1
        readout(ctx, ctx.builder.global_avgpool(x, "avgpool"), "classifier")
    return build


register("vgg16", "paper VGG-16 (CIFAR): conv+bias, no BN, avgpool; input side >= 32")(_vgg(False))
register("vgg16_bn", "VGG-16 with BatchNorm (CIFAR); input side >= 32")(_vgg(True))
