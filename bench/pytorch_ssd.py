#!/usr/bin/env python3
"""SSD300 (VGG16 base) training in PyTorch: the baseline for gafcl's SSD, layer for layer as the widely used
ssd.pytorch (amdegroot/ssd.pytorch), with the same state_dict names so weights move between the two.

    python3 bench/pytorch_ssd.py --check-names [--classes 21]
    python3 bench/pytorch_ssd.py [--batch 32] [--iters 5] [--warmup 2] [--classes 21] [--device cpu|cuda]
                                 [--threads T] [--json OUT]
    python3 bench/pytorch_ssd.py [--seed 1] [--export-weights W.safetensors]
                                 [--export-outputs DIR --images X.npy]

The network: the VGG16 list vgg.0 .. vgg.34 (convolutions at 0,2,5,7,10,12,14,17,19,21,24,26,28,31,33, a ReLU
after each, pool3 with ceil_mode, pool5 3x3 stride 1 pad 1, conv6 3x3 pad 6 dilation 6 -> 1024, conv7 1x1 ->
1024), L2Norm (512 channels, scale 20, eps 1e-10) on the conv4_3 ReLU output, extras.0 .. extras.7 (ReLU after
each), and 3x3 loc.k / conf.k heads on the six sources with [4,6,6,6,4,4] boxes per location. Outputs are
loc (N, 8732, 4) and conf (N, 8732, C), NHWC-flattened and concatenated as ssd.pytorch does. The 8732 priors
and the MultiBoxLoss (match at IoU 0.5 with each ground truth's best prior forced, variances 0.1/0.2, smooth
L1 on positives, cross-entropy on positives and 3:1 hard negatives, both over the number of positives) are
ssd.pytorch's, with one deliberate difference noted at MultiBoxLoss.forward. As in ssd.pytorch, the priors use
the VOC sizes for 21 classes and the COCO sizes otherwise.

Timing (default mode): whole training iterations (forward, MultiBoxLoss on fixed seeded ground truth of 1-3
boxes per image, backward, SGD momentum 0.9 weight decay 5e-4) and, in separate instrumented iterations
synchronised between the phases, forward, loss, backward and the optimizer step. Medians per iteration after
--warmup iterations of each kind. The device is CUDA when present (TF32 off, cuDNN benchmark mode on, as
bench/pytorch_convs.py), else the CPU with --threads threads (default: all cores).

--export-weights writes the freshly initialised state_dict (PyTorch's default init from --seed; L2Norm weight
20) as safetensors (F32, names in state_dict order) with a small writer of its own; --export-outputs runs the
same model in eval mode on --images (float32 N,3,300,300 .npy) and writes DIR/loc.npy (N,8732,4),
DIR/conf.npy (N,8732,C) and DIR/priors.npy (8732,4).
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time
from itertools import product

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------
# network

VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]
EXTRAS = [(256, 1, 1, 0), (512, 3, 2, 1), (128, 1, 1, 0), (256, 3, 2, 1),  # (out, kernel, stride, pad)
          (128, 1, 1, 0), (256, 3, 1, 0), (128, 1, 1, 0), (256, 3, 1, 0)]
MBOX = [4, 6, 6, 6, 4, 4]


def vgg_layers():
    layers, c = [], 3
    for v in VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "C":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c = v
    layers += [nn.MaxPool2d(kernel_size=3, stride=1, padding=1),  # pool5
               nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6), nn.ReLU(inplace=True),  # conv6
               nn.Conv2d(1024, 1024, kernel_size=1), nn.ReLU(inplace=True)]  # conv7 (fc7)
    return layers


class L2Norm(nn.Module):
    def __init__(self, channels=512, scale=20.0, eps=1e-10):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return self.weight.view(1, -1, 1, 1) * torch.div(x, norm)


class SSD300(nn.Module):
    def __init__(self, num_classes=21):
        super().__init__()
        self.num_classes = num_classes
        self.vgg = nn.ModuleList(vgg_layers())
        self.L2Norm = L2Norm(512, 20)
        extras, c = [], 1024
        for o, k, s, p in EXTRAS:
            extras.append(nn.Conv2d(c, o, kernel_size=k, stride=s, padding=p))
            c = o
        self.extras = nn.ModuleList(extras)
        src_ch = [512, 1024] + [e[0] for e in EXTRAS[1::2]]
        self.loc = nn.ModuleList(nn.Conv2d(c, m * 4, kernel_size=3, padding=1) for c, m in zip(src_ch, MBOX))
        self.conf = nn.ModuleList(nn.Conv2d(c, m * num_classes, kernel_size=3, padding=1)
                                  for c, m in zip(src_ch, MBOX))

    def forward(self, x):
        sources = []
        for k in range(23):  # up to the conv4_3 ReLU
            x = self.vgg[k](x)
        sources.append(self.L2Norm(x))
        for k in range(23, len(self.vgg)):  # up to the fc7 ReLU
            x = self.vgg[k](x)
        sources.append(x)
        for k, v in enumerate(self.extras):
            x = F.relu(v(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)
        n = sources[0].size(0)
        loc = torch.cat([l(s).permute(0, 2, 3, 1).reshape(n, -1) for s, l in zip(sources, self.loc)], 1)
        conf = torch.cat([c(s).permute(0, 2, 3, 1).reshape(n, -1) for s, c in zip(sources, self.conf)], 1)
        return loc.view(n, -1, 4), conf.view(n, -1, self.num_classes)


# ---------------------------------------------------------------------------------------------------------
# priors, matching, loss (ssd.pytorch's layers/functions/prior_box.py, layers/box_utils.py,
# layers/modules/multibox_loss.py)

PRIOR_CFG = {
    "voc": {"min_sizes": [30, 60, 111, 162, 213, 264], "max_sizes": [60, 111, 162, 213, 264, 315]},
    "coco": {"min_sizes": [21, 45, 99, 153, 207, 261], "max_sizes": [45, 99, 153, 207, 261, 315]},
}
FEATURE_MAPS = [38, 19, 10, 5, 3, 1]
STEPS = [8, 16, 32, 64, 100, 300]
ASPECT_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
VARIANCES = (0.1, 0.2)


def prior_boxes(num_classes=21, image_size=300):
    """(8732, 4) priors in (cx, cy, w, h), clipped to [0, 1], in ssd.pytorch's order."""
    cfg = PRIOR_CFG["voc" if num_classes == 21 else "coco"]
    mean = []
    for k, f in enumerate(FEATURE_MAPS):
        f_k = image_size / STEPS[k]
        s_k = cfg["min_sizes"][k] / image_size
        s_kp = math.sqrt(s_k * (cfg["max_sizes"][k] / image_size))
        for i, j in product(range(f), repeat=2):
            cx, cy = (j + 0.5) / f_k, (i + 0.5) / f_k
            mean += [cx, cy, s_k, s_k, cx, cy, s_kp, s_kp]
            for ar in ASPECT_RATIOS[k]:
                r = math.sqrt(ar)
                mean += [cx, cy, s_k * r, s_k / r, cx, cy, s_k / r, s_k * r]
    return torch.tensor(mean, dtype=torch.float32).view(-1, 4).clamp_(min=0, max=1)


def point_form(b):
    return torch.cat((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)


def jaccard(a, b):
    """IoU of point-form boxes a (A,4) and b (B,4): (A,B)."""
    max_xy = torch.min(a[:, None, 2:], b[None, :, 2:])
    min_xy = torch.max(a[:, None, :2], b[None, :, :2])
    wh = (max_xy - min_xy).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    return inter / (area_a + area_b - inter)


def encode(matched, priors, variances=VARIANCES):
    g_cxcy = ((matched[:, :2] + matched[:, 2:]) / 2 - priors[:, :2]) / (variances[0] * priors[:, 2:])
    g_wh = torch.log((matched[:, 2:] - matched[:, :2]) / priors[:, 2:]) / variances[1]
    return torch.cat([g_cxcy, g_wh], 1)


def match(threshold, truths, priors, labels, variances=VARIANCES):
    """truths (K,4) point form, labels (K,) 0-based, priors (P,4) center form -> loc_t (P,4), conf_t (P,)
    with 0 the background and ground truth label l as l+1."""
    overlaps = jaccard(truths, point_form(priors))  # (K, P)
    _, best_prior_idx = overlaps.max(1)  # best prior of each ground truth
    best_truth_overlap, best_truth_idx = overlaps.max(0)  # best ground truth of each prior
    best_truth_overlap = best_truth_overlap.index_fill(0, best_prior_idx, 2.0)  # keep each gt's best prior
    for j in range(best_prior_idx.size(0)):  # in order, as ssd.pytorch: a later gt wins a shared best prior
        best_truth_idx[best_prior_idx[j]] = j
    conf = labels[best_truth_idx] + 1
    conf[best_truth_overlap < threshold] = 0
    return encode(truths[best_truth_idx], priors, variances), conf


class MultiBoxLoss(nn.Module):
    def __init__(self, num_classes, priors, overlap_thresh=0.5, neg_pos=3):
        super().__init__()
        self.num_classes = num_classes
        self.threshold = overlap_thresh
        self.negpos_ratio = neg_pos
        self.register_buffer("priors", priors)

    def forward(self, loc_data, conf_data, targets):
        """loc_data (N,P,4), conf_data (N,P,C), targets: N tensors (K_i, 5) of [xmin, ymin, xmax, ymax, label].
        Returns (loss_l, loss_c)."""
        num, num_priors, _ = loc_data.shape
        with torch.no_grad():
            m = [match(self.threshold, t[:, :4], self.priors, t[:, 4].long()) for t in targets]
            loc_t = torch.stack([a for a, _ in m])
            conf_t = torch.stack([b for _, b in m])
        pos = conf_t > 0  # (N, P)
        num_pos = pos.long().sum(1, keepdim=True)

        loss_l = F.smooth_l1_loss(loc_data[pos], loc_t[pos], reduction="sum")

        # Hard negative mining. ssd.pytorch's log_sum_exp subtracts one max taken over the whole batch
        # (x.max() of all rows), which can underflow rows far below it; this uses a per-row logsumexp
        # (torch.logsumexp over the classes), mathematically the same value and numerically safe.
        with torch.no_grad():
            mine = torch.logsumexp(conf_data, dim=2) - conf_data.gather(2, conf_t.unsqueeze(2)).squeeze(2)
            mine[pos] = 0  # positives are not negatives
            _, loss_idx = mine.sort(1, descending=True)
            _, idx_rank = loss_idx.sort(1)
            num_neg = torch.clamp(self.negpos_ratio * num_pos, max=num_priors - 1)
            neg = idx_rank < num_neg
        sel = pos | neg
        loss_c = F.cross_entropy(conf_data[sel], conf_t[sel], reduction="sum")

        n = num_pos.sum().float()
        return loss_l / n, loss_c / n


def ground_truth(batch, num_classes, seed, dev):
    """1-3 random boxes per image from a seeded generator: (K, 5) [xmin, ymin, xmax, ymax, label 0..C-2]."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch):
        k = int(torch.randint(1, 4, (1,), generator=g))
        c = torch.rand(k, 2, generator=g) * 0.8 + 0.1
        wh = torch.rand(k, 2, generator=g) * 0.5 + 0.1
        box = torch.cat([c - wh / 2, c + wh / 2], 1).clamp(0, 1)
        lab = torch.randint(0, num_classes - 1, (k, 1), generator=g).float()
        out.append(torch.cat([box, lab], 1).to(dev))
    return out


# ---------------------------------------------------------------------------------------------------------
# safetensors writer (the format: u64 little-endian header length, JSON header, raw little-endian data)


def save_safetensors(state, path, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in state.items():
        a = t.detach().to("cpu", torch.float32).contiguous()
        data = a.numpy().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # pad so the data starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off


# ---------------------------------------------------------------------------------------------------------


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def device_name(dev):
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "CPU")
    except OSError:
        return "CPU"


def check_names(classes):
    torch.manual_seed(0)
    sd = SSD300(classes).state_dict()
    total = 0
    for k, v in sd.items():
        print(json.dumps({"name": k, "shape": list(v.shape)}))
        total += v.numel()
    print(json.dumps({"tensors": len(sd), "parameters": total}))
    if classes == 21:
        assert len(sd) == 71, f"{len(sd)} tensors, ssd.pytorch has 71"
        assert total == 26285486, f"{total} parameters, ssd.pytorch has 26,285,486"


def bench(a, dev):
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(a.seed)
    model = SSD300(a.classes).to(dev).train()
    crit = MultiBoxLoss(a.classes, prior_boxes(a.classes)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand(a.batch, 3, 300, 300, generator=g).mul_(255).sub_(117).to(dev)  # mean-subtracted pixels
    targets = ground_truth(a.batch, a.classes, a.seed + 2, dev)
    log(f"ssd300, batch {a.batch}, {a.classes} classes, {sum(t.size(0) for t in targets)} ground-truth boxes, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, on {device_name(dev)}")

    def step():
        opt.zero_grad(set_to_none=True)
        loc, conf = model(x)
        ll, lc = crit(loc, conf, targets)
        (ll + lc).backward()
        opt.step()
        return ll, lc

    full = []
    for i in range(a.warmup + a.iters):
        sync()
        t0 = time.perf_counter()
        ll, lc = step()
        sync()
        t = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            full.append(t)
        log(f"{'warm-up' if i < a.warmup else 'iteration'} {i + 1}: {t:.1f} ms, loss_l {ll.item():.4f} "
            f"loss_c {lc.item():.4f}")

    phases = {"forward": [], "loss": [], "backward": [], "optimizer": []}
    for i in range(a.warmup + a.iters):
        opt.zero_grad(set_to_none=True)
        sync()
        t0 = time.perf_counter()
        loc, conf = model(x)
        sync()
        t1 = time.perf_counter()
        ll, lc = crit(loc, conf, targets)
        sync()
        t2 = time.perf_counter()
        (ll + lc).backward()
        sync()
        t3 = time.perf_counter()
        opt.step()
        sync()
        t4 = time.perf_counter()
        if i >= a.warmup:
            for k, (u, v) in zip(phases, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
                phases[k].append((v - u) * 1e3)
        log(f"{'warm-up' if i < a.warmup else 'phased'} {i + 1}: forward {(t1 - t0) * 1e3:.1f} loss "
            f"{(t2 - t1) * 1e3:.1f} backward {(t3 - t2) * 1e3:.1f} optimizer {(t4 - t3) * 1e3:.1f} ms")
    fwd_bwd = [sum(phases[k][i] for k in ("forward", "loss", "backward")) for i in range(a.iters)]

    med = statistics.median
    it = med(full)
    res = {"framework": "pytorch", "torch": torch.__version__, "device": device_name(dev), "device_type": dev.type,
           "batch": a.batch, "net": "ssd300", "classes": a.classes, "iters": a.iters, "warmup": a.warmup,
           "iteration_ms": it, "images_per_s": a.batch * 1e3 / it,
           "forward_ms": med(phases["forward"]), "loss_ms": med(phases["loss"]),
           "backward_ms": med(phases["backward"]), "optimizer_ms": med(phases["optimizer"]),
           "forward_loss_backward_ms": med(fwd_bwd),
           "threads": torch.get_num_threads() if dev.type == "cpu" else None,
           "iteration_ms_all": full, "phase_ms_all": phases}
    log(f"iteration {it:.1f} ms ({res['images_per_s']:.2f} images/s); forward {res['forward_ms']:.1f}, loss "
        f"{res['loss_ms']:.1f}, backward {res['backward_ms']:.1f}, forward+loss+backward "
        f"{res['forward_loss_backward_ms']:.1f}, optimizer {res['optimizer_ms']:.1f} ms")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        log("results written to", a.json)
    return res


def export(a, dev):
    torch.manual_seed(a.seed)
    model = SSD300(a.classes)
    if a.export_weights:
        n = save_safetensors(model.state_dict(), a.export_weights,
                             {"net": "ssd300", "classes": a.classes, "seed": a.seed, "torch": torch.__version__})
        log(f"{len(model.state_dict())} tensors, {n // 4:,} parameters written to {a.export_weights}")
    if a.export_outputs:
        import numpy as np

        if not a.images:
            raise SystemExit("--export-outputs needs --images X.npy")
        imgs = np.load(a.images)
        if imgs.dtype != np.float32 or imgs.ndim != 4 or imgs.shape[1:] != (3, 300, 300):
            raise SystemExit(f"{a.images}: want float32 (N,3,300,300), got {imgs.dtype} {imgs.shape}")
        model = model.to(dev).eval()
        with torch.no_grad():
            loc, conf = model(torch.from_numpy(imgs).to(dev))
        os.makedirs(a.export_outputs, exist_ok=True)
        np.save(os.path.join(a.export_outputs, "loc.npy"), loc.cpu().numpy())
        np.save(os.path.join(a.export_outputs, "conf.npy"), conf.cpu().numpy())
        np.save(os.path.join(a.export_outputs, "priors.npy"), prior_boxes(a.classes).numpy())
        log(f"loc {tuple(loc.shape)}, conf {tuple(conf.shape)}, priors written to {a.export_outputs}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-names", action="store_true", help="print the state_dict names and shapes, JSON lines")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--classes", type=int, default=21, help="including the background")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    ap.add_argument("--json", default="", help="write the timings here")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--export-weights", default="", help="write the initial state_dict as .safetensors")
    ap.add_argument("--export-outputs", default="", help="write loc.npy, conf.npy (eval forward on --images)")
    ap.add_argument("--images", default="", help="float32 (N,3,300,300) .npy for --export-outputs")
    a = ap.parse_args()
    if a.classes < 2:
        raise SystemExit("--classes must be at least 2 (background and one class)")
    if a.check_names:
        check_names(a.classes)
        return
    if a.iters < 1 or a.warmup < 0 or a.batch < 1:
        raise SystemExit("--iters and --batch must be at least 1, --warmup at least 0")
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device")
    dev = torch.device(a.device)
    if dev.type == "cpu":
        torch.set_num_threads(a.threads or os.cpu_count())
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    if a.export_weights or a.export_outputs:
        export(a, dev)
        return
    bench(a, dev)


if __name__ == "__main__":
    main()
