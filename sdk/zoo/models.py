"""Small edge architectures in torch. torch is imported lazily by the callers of this module."""
import torch
from torch import nn


def fmnist_cnn(num_classes=10, width=16):
    """Conv-BN-ReLU x3 with pooling, then a linear head. ~20k params, ~2.6M MACs."""
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        nn.MaxPool2d(2),                                             # 14x14
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.MaxPool2d(2),                                             # 7x7
        nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(2 * w, num_classes),
    )



def fmnist_vgg(num_classes=10, width=16, hidden=64):
    """VGG-style: conv-conv-pool-conv-pool, then a hidden fully-connected layer and the
    classifier head. ~116k params, 94% of them in the hidden FC layer: the usual CNN shape
    where layers differ widely in size and sensitivity (what mixed precision exploits)."""
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.MaxPool2d(2),                                             # 14x14
        nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.MaxPool2d(2),                                             # 7x7
        nn.Flatten(),
        nn.Linear(2 * w * 49, hidden), nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def fmnist_dscnn(num_classes=10, widths=(16, 32, 64, 64, 128, 128), strides=(2, 1, 2, 1, 1)):
    """Depthwise-separable (MobileNet / DS-CNN style): a 3x3 conv, then one block per
    further width (3x3 depthwise + 1x1 pointwise, each BN-ReLU; strides 28->14->7),
    global average pool, linear head. ~35k params, ~2M MACs. The typical edge-CNN
    shape where layers differ in sensitivity per byte: the first conv and the depthwise
    layers are tiny (9 weights per channel) and fragile, the pointwise layers hold
    ~85% of the weights and are robust (what mixed precision exploits)."""
    layers = [nn.Conv2d(1, widths[0], 3, padding=1), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for cin, cout, s in zip(widths[:-1], widths[1:], strides):
        layers += list(_dw_block(cin, s, cout))   # flat: the cached state_dicts' keys are flat
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], num_classes)]
    return nn.Sequential(*layers)


def fmnist_dscnn_s(num_classes=10):
    """fmnist_dscnn at half width (8..64 channels, ~10k params, ~0.6M MACs): the MCU-sized
    variant, with less redundancy per layer, so uniform low-bit weights cost it more."""
    return fmnist_dscnn(num_classes, widths=(8, 16, 32, 32, 64, 64))


class _ResBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.short is None else self.short(x)
        return torch.relu(y + s)


class ResNet8(nn.Module):
    """MLPerf Tiny IC: conv16, three residual stages (16, 32, 64), avgpool, fc10."""

    def __init__(self, num_classes=10, in_ch=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.stage1 = _ResBlock(16, 16, 1)
        self.stage2 = _ResBlock(16, 32, 2)
        self.stage3 = _ResBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet8(num_classes=10, in_ch=3):
    return ResNet8(num_classes, in_ch)


class _PadShortcut(nn.Module):
    """Parameter-free shortcut to a smaller, wider map: 2x2 average pool, then zero channels
    appended (He et al.'s option A, as in the BNN ResNets of IR-Net / ReCU / BiPer)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.pool = nn.AvgPool2d(stride) if stride != 1 else nn.Identity()
        self.extra = cout - cin

    def forward(self, x):
        x = self.pool(x)
        # F.pad's widths run from the last dim back: (W, W, H, H, C front, C back)
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


class _BnnBlock(nn.Module):
    """Two 3x3 conv-BN, each with its own real-valued shortcut and a hardtanh after the add:
    the block binary ResNets use (Bi-Real Net; the BiPer authors' resnet_1w1a), so every
    binarized conv is bypassed by full-precision information."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = _PadShortcut(cin, cout, stride)

    def forward(self, x):
        y = nn.functional.hardtanh(self.bn1(self.conv1(x)) + self.short(x))
        return nn.functional.hardtanh(self.bn2(self.conv2(y)) + y)


class FmnistBnnResNet(nn.Module):
    """A small ResNet shaped for binarization (28x28x1): a real 3x3 stem conv, one _BnnBlock
    per stage (16, 32, 64 channels; 28 -> 14 -> 7), average pool, BN, linear head. Its six
    block convs (73.7k weights, 99 % of the conv/linear weights) are what binarize()
    converts; the stem and the head stay real (int8 on device). ~9M MACs."""

    def __init__(self, num_classes=10, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.Hardtanh())
        chans = (widths[0],) + tuple(widths)
        self.blocks = nn.Sequential(*[_BnnBlock(cin, cout, 1 if i == 0 else 2)
                                      for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:]))])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.bn = nn.BatchNorm1d(widths[-1])
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(self.bn(torch.flatten(x, 1)))


def fmnist_bnn_resnet(num_classes=10):
    return FmnistBnnResNet(num_classes)


def _dw_block(ch, stride=1, cout=None):
    """3x3 depthwise + 1x1 pointwise (ch -> cout, default ch), each BN-ReLU."""
    cout = cout or ch
    return nn.Sequential(
        nn.Conv2d(ch, ch, 3, stride, 1, groups=ch), nn.BatchNorm2d(ch), nn.ReLU(),
        nn.Conv2d(ch, cout, 1), nn.BatchNorm2d(cout), nn.ReLU())


def ds_cnn(num_classes=12, ch=64):
    """MLPerf Tiny KWS DS-CNN: conv 10x4 stride 2, four depthwise-separable blocks, avgpool, fc."""
    return nn.Sequential(
        nn.Conv2d(1, ch, (10, 4), (2, 2), (5, 1)), nn.BatchNorm2d(ch), nn.ReLU(),
        *[_dw_block(ch) for _ in range(4)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, num_classes))


def mobilenet_v1_025(num_classes=2, alpha=0.25):
    """MLPerf Tiny VWW: MobileNetV1 at width 0.25 on 96x96x3."""
    def c(n):
        return max(8, int(n * alpha))

    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers = [nn.Conv2d(3, c(32), 3, 2, 1), nn.BatchNorm2d(c(32)), nn.ReLU()]
    cin = c(32)
    for cout, s in cfg:
        layers += list(_dw_block(cin, s, c(cout)))
        cin = c(cout)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def ad_autoencoder(dim=640, hidden=128, bottleneck=8):
    """MLPerf Tiny AD: FC 640-128-128-128-128-8-128-128-128-128-640 with BN+ReLU."""
    def fc(i, o):
        return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]

    return nn.Sequential(*fc(dim, hidden), *fc(hidden, hidden), *fc(hidden, hidden), *fc(hidden, hidden),
                         *fc(hidden, bottleneck), *fc(bottleneck, hidden), *fc(hidden, hidden),
                         *fc(hidden, hidden), *fc(hidden, hidden), nn.Linear(hidden, dim))


def imu_cnn1d(num_classes=4, channels=6, width=16):
    """A 1D CNN over (channels, time) IMU windows, written with 2D convs of height 1
    so that every backend's conv2d kernels serve it: input (N, channels, 1, T)."""
    return nn.Sequential(
        nn.Conv2d(channels, width, (1, 5), padding=(0, 2)), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d((1, 2)),
        nn.Conv2d(width, 2 * width, (1, 5), padding=(0, 2)), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))


# name -> (constructor, input shape without batch)
MLPERF_TINY = {
    "ic_resnet8": (resnet8, (3, 32, 32)),
    "kws_dscnn": (ds_cnn, (1, 49, 10)),
    "vww_mobilenetv1_025": (mobilenet_v1_025, (3, 96, 96)),
    "ad_autoencoder": (ad_autoencoder, (640,)),
}
