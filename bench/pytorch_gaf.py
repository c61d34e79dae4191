#!/usr/bin/env python3
"""The GAF's cost in PyTorch on the same GPU, for comparison with gafcl's fused optimizer.

    python3 bench/pytorch_gaf.py [--batch 256] [--iters 10] [--out pytorch.json]

Times full training iterations (forward, backward, optimizer; fp32 with TF32 off, as gafcl computes) of
ResNet-18 (CIFAR-10) and ResNet-50 (CIFAR-100) on synthetic 32x32 data with three optimizers, alternating:
torch.optim.SGD (foreach, the fast built-in), a per-tensor SGD-momentum loop (the structure of the paper's
official optimizers), and that loop with the GAF on the momentum as in the official SGD_atanMom
(d = g + wd*w; b = mu*b + d; w -= lr * alpha*atan(beta*b)). The optimizer step is also timed alone with
CUDA events. Needs torch with CUDA; writes JSON with the device and versions.
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Basic(nn.Module):
    expansion = 1

    def __init__(self, i, o, s):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.shortcut = nn.Sequential()
        if s != 1 or i != o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, i, o, s):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, s, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.conv3 = nn.Conv2d(o, 4 * o, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * o)
        self.shortcut = nn.Sequential()
        if s != 1 or i != 4 * o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, 4 * o, 1, s, bias=False), nn.BatchNorm2d(4 * o))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


class ResNet(nn.Module):  # the CIFAR form (kuangliu/pytorch-cifar), as gafcl's resnet18/resnet50
    def __init__(self, block, blocks, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, i = [], 64
        for k, (o, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            seq = []
            for j in range(n):
                seq.append(block(i, o, 2 if (j == 0 and k > 0) else 1))
                i = o * block.expansion
            layers.append(nn.Sequential(*seq))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(i, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class LoopSGDM:
    """Per-tensor SGD-momentum as the official GAF optimizers are written; gaf: None or (alpha, beta)."""

    def __init__(self, params, lr=0.1, mu=0.9, wd=5e-4, gaf=None):
        self.params, self.lr, self.mu, self.wd, self.gaf = list(params), lr, mu, wd, gaf
        self.buf = [None] * len(self.params)

    @torch.no_grad()
    def step(self):
        for k, p in enumerate(self.params):
            d = p.grad.add(p, alpha=self.wd)
            if self.buf[k] is None:
                self.buf[k] = d.clone()
            else:
                self.buf[k].mul_(self.mu).add_(d)
            b = self.buf[k]
            if self.gaf:
                b = torch.atan(b * self.gaf[1]).mul_(self.gaf[0])
            p.add_(b, alpha=-self.lr)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None


def measure(name, model, batch, classes, iters, reps):
    dev = torch.device("cuda")
    model = model.to(dev)
    x = torch.randn(batch, 3, 32, 32, device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)
    opts = {
        "foreach_sgd": torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True),
        "loop_sgdm": LoopSGDM(model.parameters()),
        "loop_sgdm_arctan": LoopSGDM(model.parameters(), gaf=(0.1, 20.0)),
    }
    res = {k: {"iter_ms": [], "opt_ms": []} for k in opts}
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]

    def run(opt, n, keep):
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            ev[0].record()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            ev[1].record()
            opt.step()
            ev[2].record()
            torch.cuda.synchronize()
            if keep is not None:
                keep["iter_ms"].append(ev[0].elapsed_time(ev[2]))
                keep["opt_ms"].append(ev[1].elapsed_time(ev[2]))

    for k, o in opts.items():
        run(o, 3, None)  # warm-up: cuDNN algorithm choice, allocator
    for _ in range(reps):  # alternate so drift cancels
        for k, o in opts.items():
            run(o, iters, res[k])
    out = {"net": name, "parameters": sum(p.numel() for p in model.parameters()), "batch": batch}
    for k, r in res.items():
        out[k] = {"iteration_ms": statistics.median(r["iter_ms"]), "optimizer_ms": statistics.median(r["opt_ms"])}
    base = out["loop_sgdm"]
    g = out["loop_sgdm_arctan"]
    out["gaf_overhead_pct_vs_loop"] = 100 * (g["iteration_ms"] - base["iteration_ms"]) / base["iteration_ms"]
    out["gaf_overhead_pct_vs_foreach"] = 100 * (g["iteration_ms"] - out["foreach_sgd"]["iteration_ms"]) / out["foreach_sgd"]["iteration_ms"]
    print(f"{name:10s} {out['parameters'] / 1e6:.2f}M params, batch {batch}: " +
          ", ".join(f"{k} {v['iteration_ms']:.2f} ms/iter (optimizer {v['optimizer_ms']:.3f} ms)"
                    for k, v in out.items() if isinstance(v, dict)) +
          f"; GAF overhead {out['gaf_overhead_pct_vs_loop']:+.2f}% vs the loop, "
          f"{out['gaf_overhead_pct_vs_foreach']:+.2f}% vs foreach", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("pytorch_gaf: no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    r = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
         "tf32": False, "nets": []}
    r["nets"].append(measure("resnet18", ResNet(Basic, (2, 2, 2, 2), 10), a.batch, 10, a.iters, a.repeats))
    r["nets"].append(measure("resnet50", ResNet(Bottleneck, (3, 4, 6, 3), 100), a.batch, 100, a.iters, a.repeats))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
