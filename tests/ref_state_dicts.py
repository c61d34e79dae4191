"""Reference state_dict listings for the gafcl zoo nets (standard library + torch only).

Defines in PyTorch the reference models the zoo nets mirror: googlenet, dpn26, regnetx_200mf and
se_resnet18 in their CIFAR form exactly as kuangliu/pytorch-cifar models/{googlenet,dpn,regnet,senet}.py
(GoogLeNet's Linear taking num_classes; SENet18 with PreActBlock), and se_resnet18/34/50 in ImageNet form
(torchvision ResNet layout plus an 'se' module per block). Instantiates each, fails loudly unless its
parameter count is the known one, and writes <outdir>/<name>-<form>-<classes>.txt: a first line
'# <name> <form> <classes> classes: <N> parameters (tests/ref_state_dicts.py)', then per state_dict
entry, in order, leaving out '*num_batches_tracked': '<key> <param|buffer> <d0>x<d1>x...'.

The listings are committed in tests/state_dicts/ and read by tests/test_nets.c, so the C tests need
no Python.  Usage: python3 tests/ref_state_dicts.py [OUTDIR]   (default tests/state_dicts)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

def cbr(cin, cout, k, **kw):
    return [nn.Conv2d(cin, cout, kernel_size=k, **kw), nn.BatchNorm2d(cout), nn.ReLU(True)]

def conv_bn(cin, cout, stride):
    """1x1 projection shortcut"""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

def stages(net, x):
    """CIFAR stem (conv1, bn1, relu) then layer1..layer4"""
    x = F.relu(net.bn1(net.conv1(x)))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))

# ---- GoogLeNet (pytorch-cifar) ----
class Inception(nn.Module):
    def __init__(self, cin, n1, n3r, n3, n5r, n5, pp):
        super().__init__()
        self.b1 = nn.Sequential(*cbr(cin, n1, 1))
        self.b2 = nn.Sequential(*cbr(cin, n3r, 1), *cbr(n3r, n3, 3, padding=1))
        self.b3 = nn.Sequential(*cbr(cin, n5r, 1), *cbr(n5r, n5, 3, padding=1), *cbr(n5, n5, 3, padding=1))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *cbr(cin, pp, 1))
    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)

class GoogLeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.pre_layers = nn.Sequential(*cbr(3, 192, 3, padding=1))
        self.a3 = Inception(192, 64, 96, 128, 16, 32, 32)
        self.b3 = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.a4 = Inception(480, 192, 96, 208, 16, 48, 64)
        self.b4 = Inception(512, 160, 112, 224, 24, 64, 64)
        self.c4 = Inception(512, 128, 128, 256, 24, 64, 64)
        self.d4 = Inception(512, 112, 144, 288, 32, 64, 64)
        self.e4 = Inception(528, 256, 160, 320, 32, 128, 128)
        self.a5 = Inception(832, 256, 160, 320, 32, 128, 128)
        self.b5 = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AvgPool2d(8, stride=1)
        self.linear = nn.Linear(1024, num_classes)
    def forward(self, x):
        x = self.b3(self.a3(self.pre_layers(x)))
        x = self.maxpool(x)
        x = self.e4(self.d4(self.c4(self.b4(self.a4(x)))))
        x = self.b5(self.a5(self.maxpool(x)))
        return self.linear(self.avgpool(x).flatten(1))

# ---- DPN26 (pytorch-cifar) ----
class DPNBottleneck(nn.Module):
    def __init__(self, last, mid, out, dense, stride, first):
        super().__init__()
        self.out_planes = out
        self.conv1 = nn.Conv2d(last, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=32, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out + dense, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out + dense)
        self.shortcut = nn.Sequential()
        if first:
            self.shortcut = conv_bn(last, out + dense, stride)
    def forward(self, x):
        o = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        o = self.bn3(self.conv3(o))
        x, d = self.shortcut(x), self.out_planes
        return F.relu(torch.cat([x[:, :d] + o[:, :d], x[:, d:], o[:, d:]], 1))

class DPN(nn.Module):
    def __init__(self, mids, outs, blocks, dense, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        last = 64
        for li in range(4):
            layers = []
            for i in range(blocks[li]):
                layers.append(DPNBottleneck(last, mids[li], outs[li], dense[li], (1 if li == 0 else 2) if i == 0 else 1, i == 0))
                last = outs[li] + (i + 2) * dense[li]
            setattr(self, "layer%d" % (li + 1), nn.Sequential(*layers))
        self.linear = nn.Linear(outs[3] + (blocks[3] + 1) * dense[3], num_classes)
    def forward(self, x):
        return self.linear(F.avg_pool2d(stages(self, x), 4).flatten(1))

def DPN26(num_classes=10):
    return DPN((96, 192, 384, 768), (256, 512, 1024, 2048), (2, 2, 2, 2), (16, 32, 24, 128), num_classes)

# ---- RegNetX_200MF (pytorch-cifar; bottleneck_ratio 1, no SE) ----
class RegBlock(nn.Module):
    def __init__(self, w_in, w_out, stride, group_width):
        super().__init__()
        self.conv1 = nn.Conv2d(w_in, w_out, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w_out)
        self.conv2 = nn.Conv2d(w_out, w_out, 3, stride=stride, padding=1, groups=w_out // group_width, bias=False)
        self.bn2 = nn.BatchNorm2d(w_out)
        self.conv3 = nn.Conv2d(w_out, w_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(w_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or w_in != w_out:
            self.shortcut = conv_bn(w_in, w_out, stride)
    def forward(self, x):
        o = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.relu(self.bn3(self.conv3(o)) + self.shortcut(x))

class RegNetX_200MF(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        w_in = 64
        for li, (depth, width, stride) in enumerate(zip([1, 1, 4, 7], [24, 56, 152, 368], [1, 1, 2, 2])):
            layers = []
            for i in range(depth):
                layers.append(RegBlock(w_in, width, stride if i == 0 else 1, 8))
                w_in = width
            setattr(self, "layer%d" % (li + 1), nn.Sequential(*layers))
        self.linear = nn.Linear(368, num_classes)
    def forward(self, x):
        return self.linear(F.adaptive_avg_pool2d(stages(self, x), 1).flatten(1))

# ---- SENet18 (pytorch-cifar, PreActBlock) ----
class PreActSEBlock(nn.Module):
    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride=stride, bias=False))
        self.fc1 = nn.Conv2d(planes, planes // 16, 1)
        self.fc2 = nn.Conv2d(planes // 16, planes, 1)
    def forward(self, x):
        o = F.relu(self.bn1(x))
        sc = self.shortcut(o) if hasattr(self, "shortcut") else x
        o = self.conv2(F.relu(self.bn2(self.conv1(o))))
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(F.avg_pool2d(o, o.size(2))))))
        return o * w + sc

class SENet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for li, planes in enumerate([64, 128, 256, 512]):
            blocks = [PreActSEBlock(cin, planes, 1 if li == 0 else 2), PreActSEBlock(planes, planes)]
            cin = planes
            setattr(self, "layer%d" % (li + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(512, num_classes)
    def forward(self, x):
        return self.linear(F.avg_pool2d(stages(self, x), 4).flatten(1))

# ---- SE-ResNet-18/34/50, torchvision ResNet layout with 'se' per block ----
class SE(nn.Module):
    def __init__(self, c, r=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(c, c // r, bias=True), nn.ReLU(inplace=True),
                                nn.Linear(c // r, c, bias=True), nn.Sigmoid())
    def forward(self, x):
        return x * self.fc(self.avg_pool(x).flatten(1))[:, :, None, None]

class SEBlock(nn.Module):
    """torchvision BasicBlock / Bottleneck (stride on the 3x3), 'se' on the last bn's output before the add"""
    def __init__(self, cin, planes, stride=1, downsample=None, bottleneck=False):
        super().__init__()
        k1, s1, cout = (1, 1, planes * 4) if bottleneck else (3, stride, planes)
        self.conv1 = nn.Conv2d(cin, planes, k1, stride=s1, padding=k1 // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride if bottleneck else 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if bottleneck:
            self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
        self.se = SE(cout)
        self.downsample = downsample
    def forward(self, x):
        o = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if hasattr(self, "conv3"):
            o = self.bn3(self.conv3(F.relu(o)))
        return F.relu(self.se(o) + (x if self.downsample is None else self.downsample(x)))

class SEResNet(nn.Module):
    def __init__(self, layers, bottleneck, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin, exp = 64, 4 if bottleneck else 1
        for li, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
            stride = 1 if li == 0 else 2
            ds = conv_bn(cin, planes * exp, stride) if stride != 1 or cin != planes * exp else None
            blocks = [SEBlock(cin, planes, stride, ds, bottleneck)]
            cin = planes * exp
            blocks += [SEBlock(cin, planes, bottleneck=bottleneck) for _ in range(1, n)]
            setattr(self, "layer%d" % (li + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * exp, num_classes)
    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

# (name, form, classes, constructor, expected parameter count)
MODELS = [(n, "cifar", c, make, want[c == 100]) for n, make, want in [
    ("googlenet", GoogLeNet, (6166250, 6258500)),
    ("dpn26", DPN26, (11574842, 11793812)),
    ("regnetx_200mf", RegNetX_200MF, (2321946, 2355156)),
    ("se_resnet18", SENet18, (11260354, 11306524))] for c in (10, 100)] + [
    ("se_resnet18", "imagenet", 1000, lambda c: SEResNet([2, 2, 2, 2], False, c), 11778592),
    ("se_resnet34", "imagenet", 1000, lambda c: SEResNet([3, 4, 6, 3], False, c), 21958868),
    ("se_resnet50", "imagenet", 1000, lambda c: SEResNet([3, 4, 6, 3], True, c), 28088024)]

def listing(name, form, classes, net):
    n = sum(p.numel() for p in net.parameters())
    params = {k for k, _ in net.named_parameters()}
    lines = ["# %s %s %d classes: %d parameters (tests/ref_state_dicts.py)" % (name, form, classes, n)]
    for k, v in net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            lines.append("%s %s %s" % (k, "param" if k in params else "buffer", "x".join(str(d) for d in v.shape)))
    return n, "\n".join(lines) + "\n"

def main(argv):
    outdir = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "state_dicts")
    os.makedirs(outdir, exist_ok=True)
    bad = 0
    for name, form, classes, make, want in MODELS:
        n, text = listing(name, form, classes, make(classes))
        ok = n == want
        bad += not ok
        path = os.path.join(outdir, "%s-%s-%d.txt" % (name, form, classes))
        print("%-14s %-8s %4d classes: %10d parameters (expected %d) %s -> %s"
              % (name, form, classes, n, want, "ok" if ok else "MISMATCH", path))
        if ok:
            with open(path, "w", newline="\n") as f:
                f.write(text)
    if bad:
        sys.exit("ref_state_dicts.py: %d parameter count mismatch(es)" % bad)

if __name__ == "__main__":
    main(sys.argv)
