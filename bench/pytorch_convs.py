#!/usr/bin/env python3
"""PyTorch on the convolution shapes gafcl measured, and on whole training iterations: the baseline of
gafcl's per-shape and per-iteration convolution speed, on the same device.

    python3 bench/pytorch_convs.py SHAPES.json [SHAPES.json ...] [--iters 5] [--threads N]
                                   [--iterations resnet18,resnet50] [--out pytorch-convs.json]

SHAPES.json is what `gafcl bench-conv --out` writes (the unique convolution shapes of the networks at the
batch given). For each shape this times, median of --iters runs after a warm-up run:
  forward  F.conv2d(x, w, b)
  dgrad    the input gradient alone   (torch.ops.aten.convolution_backward, output_mask (1, 0, 0))
  wgrad    the weight (and bias) gradient alone (output_mask (0, 1, bias))
which is what autograd calls in a training step. --iterations also times whole training iterations
(forward, cross-entropy, backward, SGD-momentum step) of the CIFAR-form ResNets of bench/pytorch_gaf.py at
each file's batch. The device is CUDA when present (synchronised around each run, TF32 off, cuDNN
benchmark mode on, as a user tuning for speed would), else the CPU with --threads threads (default: all
cores, the same as the OpenCL CPU implementations use). Writes JSON with the device, versions and times.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def timer(dev):
    def run(fn, iters):
        fn()  # warm-up: algorithm choice, allocator, first-touch
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(t)

    return run


def shape_times(s, dev, iters, run):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(s["n"], s["c_in"], s["h"], s["w"], generator=g) * 2 - 1).to(dev)
    groups = s.get("groups", 1)  # grouped convolutions (DPN, RegNetX): c_in / groups inputs per output
    w = (torch.rand(s["c_out"], s["c_in"] // groups, s["kh"], s["kw"], generator=g) * 2 - 1).to(dev)
    b = (torch.rand(s["c_out"], generator=g) * 2 - 1).to(dev) if s["bias"] else None
    dy = (torch.rand(s["n"], s["c_out"], s["ho"], s["wo"], generator=g) * 2 - 1).to(dev)
    stride, pad, dil = (s["sh"], s["sw"]), (s["ph"], s["pw"]), (s["dh"], s["dw"])
    bias_sizes = [s["c_out"]] if s["bias"] else None
    out = {}
    with torch.no_grad():
        y = F.conv2d(x, w, b, stride, pad, dil, groups)
        if tuple(y.shape) != (s["n"], s["c_out"], s["ho"], s["wo"]):
            raise SystemExit(f"shape {s['first']}: PyTorch gives {tuple(y.shape)}, gafcl {s['ho']}x{s['wo']}")
        out["forward"] = run(lambda: F.conv2d(x, w, b, stride, pad, dil, groups), iters)

        def bwd(mask):
            return lambda: torch.ops.aten.convolution_backward(dy, x, w, bias_sizes, stride, pad, dil, False, [0, 0],
                                                               groups, mask)

        out["dgrad"] = run(bwd([True, False, False]), iters)
        out["wgrad"] = run(bwd([False, True, bool(s["bias"])]), iters)
    return out


def iteration_ms(name, batch, dev, iters, run):
    import pytorch_gaf as pg

    nets = {"resnet18": (pg.Basic, (2, 2, 2, 2), 10), "resnet50": (pg.Bottleneck, (3, 4, 6, 3), 100)}
    if name not in nets:
        return None
    block, blocks, classes = nets[name]
    torch.manual_seed(1)
    model = pg.ResNet(block, blocks, classes).to(dev)
    x = torch.randn(batch, 3, 32, 32, device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return run(step, iters)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shapes", nargs="+", help="gafcl bench-conv JSON files")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    ap.add_argument("--iterations", default="resnet18,resnet50",
                    help="whole training iterations of these CIFAR-form nets, where a file covers them ('' none)")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if a.iters < 1:
        raise SystemExit("--iters must be at least 1")
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = a.threads or os.cpu_count()
    if dev.type == "cpu":
        torch.set_num_threads(threads)
        name = "CPU"
        try:
            with open("/proc/cpuinfo") as f:
                name = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), name)
        except OSError:
            pass
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(0)
    run = timer(dev)
    res = {"device": name, "device_type": dev.type, "torch": torch.__version__,
           "threads": torch.get_num_threads() if dev.type == "cpu" else None,
           "mkldnn": torch.backends.mkldnn.is_available(), "iters": a.iters, "files": []}
    want = [n for n in a.iterations.split(",") if n]
    for path in a.shapes:
        with open(path) as f:
            g = json.load(f)
        if "shapes" not in g or "batch" not in g:
            raise SystemExit(f"{path}: not a gafcl bench-conv file (no 'shapes' or 'batch')")
        entry = {"file": os.path.basename(path), "form": g.get("form"), "batch": g["batch"], "nets": g.get("nets", []),
                 "shapes": [], "iteration_ms": {}}
        n = len(g["shapes"])
        for i, s in enumerate(g["shapes"]):
            t = shape_times(s, dev, a.iters, run)
            entry["shapes"].append({"first": s["first"], **{k: s[k] for k in ("n", "c_in", "h", "w", "c_out", "kh",
                                                                              "kw", "sh", "sw", "ph", "pw", "dh",
                                                                              "dw", "bias")},
                                    "groups": s.get("groups", 1), "ms": t})
            print(f"{i + 1:3d}/{n:<3d} {s['first']:<44.44s} forward {t['forward']:9.3f}  dgrad {t['dgrad']:9.3f}  "
                  f"wgrad {t['wgrad']:9.3f} ms", flush=True)
        if g.get("form") == "cifar":
            for net in want:
                if net in entry["nets"]:
                    ms = iteration_ms(net, g["batch"], dev, a.iters, run)
                    if ms is not None:
                        entry["iteration_ms"][net] = ms
                        print(f"{net} training iteration, batch {g['batch']}: {ms:.1f} ms", flush=True)
        res["files"].append(entry)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
        print("results written to", a.out)


if __name__ == "__main__":
    main()
