"""The paper's ResNets: resnet19_cifar, resnet20_cifar, resnet20_cifar_modified, resnet18, resnet34.

Built as in the reference code: a plain network (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ReLU``,
``BasicBlock``) whose layers are then replaced by the spiking wrappers (:func:`spike_refactor`),
so the state-dict keys are the paper's: ``model.conv1.pool.weight``, ``model.bn1.conv.*``,
``model.relu.fire_ratio``, ``model.layer2.0.bn1.bn.*``, ``model.layer2.0.downsample.0.pool.weight``,
``model.layer1.0.output_act.fire_ratio``, ``model.fc.conv.*`` and the unused ``model.scale``.

Block: ``out = LIF_out(BN2(conv2(LIF1(BN1(conv1 x)))) + shortcut(x))``; the shortcut is x
itself or ``BN(conv1x1(x))`` (resnet20_cifar_modified: ``BN(conv1x1(avgpool(x)))``). Note the
CIFAR nets are 128/256/512 channels wide (not the classic 16/32/64 ResNet-20).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import SpikeModel, SpikePool, myBatchNorm3d, spike_refactor
from .neurons import LIFAct


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """The plain residual block (before spike_refactor)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, s):
        _, x = s
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        out = out + (x if self.downsample is None else self.downsample(x))
        return out, self.relu2(out)


class SpikeBasicBlock(nn.Module):
    """The spiking block: BNs shared over time (myBatchNorm3d), LIFs ``relu1`` and ``output_act``."""

    def __init__(self, block: BasicBlock, step: int, mode: str = "ternary",
                 fire_ratio: str | None = None):
        super().__init__()
        planes = block.bn1.num_features
        self.step = step
        self.conv1 = SpikePool(block.conv1, step)
        self.bn1 = myBatchNorm3d(block.bn1, step)
        self.relu1 = LIFAct(step, mode, fire_ratio, planes)
        self.conv2 = SpikePool(block.conv2, step)
        self.bn2 = myBatchNorm3d(block.bn2, step)
        self.downsample = None
        if block.downsample is not None:
            wrapped = [myBatchNorm3d(m, step) if isinstance(m, nn.BatchNorm2d) else SpikePool(m, step)
                       for m in block.downsample]
            self.downsample = nn.Sequential(*wrapped)
        self.output_act = LIFAct(step, mode, fire_ratio, planes)
        self.stride = block.stride

    def forward(self, s):
        _, x = s
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        out = out + (x if self.downsample is None else self.downsample(x))
        return out, self.output_act(out)


def _specials():
    return {BasicBlock: lambda blk, step, mode, fr: SpikeBasicBlock(blk, step, mode, fr)}


def _make_layer(net, planes: int, blocks: int, stride: int, avg_down: bool) -> nn.Sequential:
    downsample = None
    if stride != 1 or net.inplanes != planes:
        if avg_down:  # resnet20_cifar_modified: AvgPool, then a 1x1 conv, then BN
            downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride=stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(net.inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes))
        else:
            downsample = nn.Sequential(nn.Conv2d(net.inplanes, planes, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes))
    layers = [BasicBlock(net.inplanes, planes, stride, downsample)]
    net.inplanes = planes
    layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _head(net, x):
    x = net.avgpool2(x) if hasattr(net, "avgpool2") else net.avgpool(x)
    return net.fc(x.flatten(2))  # (T, B, C) -> per-step logits


class ResNetCifar(nn.Module):
    """resnet19_cifar / resnet20_cifar: stem conv3x3 128, three stages 128/256/512."""

    def __init__(self, layers, input_c: int = 3, num_classes: int = 10):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, 1, 2048))  # the paper's unused parameter
        self.inplanes = 128
        self.conv1 = nn.Conv2d(input_c, 128, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(128)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_layer(self, 128, layers[0], 1, False)
        self.layer2 = _make_layer(self, 256, layers[1], 2, False)
        self.layer3 = _make_layer(self, 512, layers[2], 2, False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for layer in (self.layer1, self.layer2, self.layer3):
            _, x = layer((x, x))
        return _head(self, x)


class ResNetCifarModified(nn.Module):
    """resnet20_cifar_modified: 3-conv stem, avgpool 2, four stages 64..512, avg-down shortcuts."""

    def __init__(self, layers, input_c: int = 3, num_classes: int = 10):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, 1, 512))  # the paper's unused parameter
        self.inplanes = 64
        self.conv1 = nn.Sequential(
            nn.Conv2d(input_c, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.avgpool = nn.AvgPool2d(2)
        self.layer1 = _make_layer(self, 64, layers[0], 1, True)
        self.layer2 = _make_layer(self, 128, layers[1], 2, True)
        self.layer3 = _make_layer(self, 256, layers[2], 2, True)
        self.layer4 = _make_layer(self, 512, layers[3], 2, True)
        self.avgpool2 = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.avgpool(self.conv1(x))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            _, x = layer((x, x))
        return _head(self, x)


class ResNetImageNet(nn.Module):
    """resnet18 / resnet34: stem conv7x7/2 64, avgpool 3/2 pad 1, four stages 64..512."""

    def __init__(self, layers, input_c: int = 3, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(input_c, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool1 = nn.AvgPool2d(3, 2, 1)
        self.layer1 = _make_layer(self, 64, layers[0], 1, False)
        self.layer2 = _make_layer(self, 128, layers[1], 2, False)
        self.layer3 = _make_layer(self, 256, layers[2], 2, False)
        self.layer4 = _make_layer(self, 512, layers[3], 2, False)
        self.avgpool2 = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.avgpool1(self.relu(self.bn1(self.conv1(x))))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            _, x = layer((x, x))
        return _head(self, x)


_ARCHS = {
    "resnet19_cifar": (ResNetCifar, [3, 3, 2], 10),
    "resnet20_cifar": (ResNetCifar, [3, 3, 3], 10),
    "resnet20_cifar_modified": (ResNetCifarModified, [2, 2, 2, 2], 10),
    "resnet18": (ResNetImageNet, [2, 2, 2, 2], 1000),
    "resnet34": (ResNetImageNet, [3, 4, 6, 3], 1000),
}


def resnet(arch: str, step: int, mode: str = "ternary", fire_ratio: str | None = "channel",
           input_c: int = 3, num_classes: int | None = None) -> SpikeModel:
    """A spiking ResNet of the paper, wrapped in SpikeModel (``model.`` prefix)."""
    cls, layers, default_classes = _ARCHS[arch]
    body = cls(layers, input_c=input_c, num_classes=num_classes or default_classes)
    spike_refactor(body, step, mode, fire_ratio, _specials())
    return SpikeModel(body, step)


def resnet19_cifar(step: int, **kw) -> SpikeModel:
    return resnet("resnet19_cifar", step, **kw)


def resnet20_cifar(step: int, **kw) -> SpikeModel:
    return resnet("resnet20_cifar", step, **kw)


def resnet20_cifar_modified(step: int, **kw) -> SpikeModel:
    return resnet("resnet20_cifar_modified", step, **kw)


def resnet18(step: int, **kw) -> SpikeModel:
    return resnet("resnet18", step, **kw)


def resnet34(step: int, **kw) -> SpikeModel:
    return resnet("resnet34", step, **kw)
