"""The paper's ResNets (``models/resnet.py``): CIFAR resnet19/20 (128/256/512 wide),
resnet20_cifar_modified (3-conv stem, avg-down shortcuts) and ImageNet resnet18/34."""

from __future__ import annotations

from ...errors import ConversionError
from ..trace import Value
from .common import Context, batchnorm, conv, lif, readout, register


def basic_block(ctx: Context, x: Value, path: str, planes: int, stride: int,
                shortcut: str | None) -> Value:
    """``LIF_out(BN2(conv2(LIF1(BN1(conv1 x)))) + shortcut(x))``.

    ``shortcut``: None (identity: alpha of the previous layer as a per-channel scale),
    ``"conv"`` (``downsample.0`` conv1x1/stride + ``downsample.1`` BN) or ``"avg"``
    (``downsample.0`` AvgPool(stride, ceil_mode, count_include_pad=False) + 1x1 conv + BN).
    """
    b = ctx.builder
    y = lif(ctx, batchnorm(ctx, conv(ctx, x, f"{path}.conv1", planes, 3, stride, 1), f"{path}.bn1", "bn"),
            f"{path}.relu1")
    y = batchnorm(ctx, conv(ctx, y, f"{path}.conv2", planes, 3, 1, 1), f"{path}.bn2", "bn")
    if shortcut is None:
        sc = b.relabel(x, f"{path}.shortcut")
    elif shortcut == "conv":
        sc = conv(ctx, x, f"{path}.downsample.0", planes, 1, stride)
        sc = batchnorm(ctx, sc, f"{path}.downsample.1", "bn")
    else:
        _, h, w = x.shape
        if h % stride or w % stride:
            # ceil_mode with count_include_pad=False averages a partial last window over fewer
            # cells: not one uniform factor, so it cannot be folded into a projection.
            raise ConversionError(f"{path}.downsample.0: avg-down pooling of a {h}x{w} map with "
                                  f"stride {stride} has partial windows; use an input size whose "
                                  "feature maps stay even")
        sc = b.avgpool(x, f"{path}.downsample.0", stride, stride)
        sc = conv(ctx, sc, f"{path}.downsample.1", planes, 1)
        sc = batchnorm(ctx, sc, f"{path}.downsample.2", "bn")
    return lif(ctx, b.add(y, sc), f"{path}.output_act")


def stages(ctx: Context, x: Value, widths, blocks, strides, avg_down: bool) -> Value:
    inplanes = x.shape[0]
    for i, (planes, n, stride) in enumerate(zip(widths, blocks, strides), start=1):
        for j in range(n):
            s = stride if j == 0 else 1
            need = s != 1 or inplanes != planes
            x = basic_block(ctx, x, f"layer{i}.{j}", planes, s,
                            ("avg" if avg_down else "conv") if need else None)
            inplanes = planes
    return x


def _cifar(blocks):
    def build(ctx: Context, x: Value) -> None:
        x = lif(ctx, batchnorm(ctx, conv(ctx, x, "conv1", 128, 3, 1, 1), "bn1", "conv"), "relu")
        x = stages(ctx, x, (128, 256, 512), blocks, (1, 2, 2), avg_down=False)
        readout(ctx, ctx.builder.global_avgpool(x, "avgpool"), "fc")
    return build


register("resnet19_cifar", "paper ResNet-19 (CIFAR): 128/256/512, blocks 3-3-2")(_cifar((3, 3, 2)))
register("resnet20_cifar", "paper ResNet-20 (CIFAR): 128/256/512, blocks 3-3-3")(_cifar((3, 3, 3)))


@register("resnet20_cifar_modified", "paper ResNet-20 modified: 3-conv stem, avgpool, 64..512, avg-down")
def build_modified(ctx: Context, x: Value) -> None:
    for k in range(3):
        x = conv(ctx, x, f"conv1.{3 * k}", 64, 3, 1, 1)
        x = lif(ctx, batchnorm(ctx, x, f"conv1.{3 * k + 1}", "conv"), f"conv1.{3 * k + 2}")
    x = ctx.builder.avgpool(x, "avgpool", 2)
    x = stages(ctx, x, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2), avg_down=True)
    readout(ctx, ctx.builder.global_avgpool(x, "avgpool2"), "fc")


def _imagenet(blocks):
    def build(ctx: Context, x: Value) -> None:
        x = lif(ctx, batchnorm(ctx, conv(ctx, x, "conv1", 64, 7, 2, 3), "bn1", "conv"), "relu")
        x = ctx.builder.avgpool(x, "avgpool1", 3, 2, 1)
        x = stages(ctx, x, (64, 128, 256, 512), blocks, (1, 2, 2, 2), avg_down=False)
        readout(ctx, ctx.builder.global_avgpool(x, "avgpool2"), "fc")
    return build


register("resnet18", "paper ResNet-18 (ImageNet): conv7x7/2, avgpool 3/2, 64..512")(_imagenet((2, 2, 2, 2)))
register("resnet34", "paper ResNet-34 (ImageNet): conv7x7/2, avgpool 3/2, 64..512")(_imagenet((3, 4, 6, 3)))
