#!/usr/bin/env python3
"""Data-parallel scaling: the measured runs of bench/run_mpi.sh and a model of N GPUs over a network.

    bench/mpi_model.py RESULTS.json [--loopback bench/results/nvidia-h200-loopback] [--gbps 100]
                       [--latency-us 20] [--bucket-mb 5] [--grad-mb 44.7] [--backward-share 0.68] [--png FIGURE]

Prints the measured table (time per iteration, the gradient reduction, the part the backward pass did not
hide), one GPU's loopback runs (the data-parallel path's own cost: copies to and from host memory, the
sums, with and without overlap) and the model of N such GPUs: weak scaling (each keeps its batch), the
measured loopback iteration plus the network's time for the reduction as gafcl does it (an all-to-all of
N chunks, the owner's sum, an all-gather: 2 (N-1)/N of the gradient bytes per GPU and direction, plus one
latency per message), hidden behind the backward pass as far as it fits (at least the last bucket's share
shows); and the bound with nothing hidden (the measured path without overlap, then the network).
"""
import argparse
import json
import math
import sys


def loopback(d):
    """epoch-2 means of bench/run_loopback.sh's runs: name -> (s/iteration, reduction s, not hidden s)"""
    out = {}
    for n in ("plain", "plain2", "loop-nooverlap", "loop-b2", "loop-b5", "loop-b10", "loop-b25"):
        try:
            m = [json.loads(l) for l in open(f"{d}/{n}-metrics.jsonl")]
            st = [json.loads(l) for l in open(f"{d}/{n}-steps.jsonl")]
        except OSError:
            continue
        st = [x for x in st if x["epoch"] == 2]
        out[n] = (m[1]["epoch_time_s"] / len(st), sum(x.get("comm_s", 0) for x in st) / len(st),
                  sum(x.get("comm_exposed_s", 0) for x in st) / len(st), m[1]["device"])
    return out


def model(lb, grad_bytes, n, gbps, latency_us, bucket_mb, backward_share):
    """(network s, iteration s nothing hidden, iteration s overlapped) for n GPUs from one GPU's loopback
    runs: the host path's measured cost plus the network's time for n"""
    plain = lb["plain"][0]
    if n == 1:
        return 0.0, plain, plain
    buckets = max(1, math.ceil(grad_bytes / (bucket_mb * 2**20)))
    net = 2 * (n - 1) / n * grad_bytes / (gbps * 1e9 / 8) + buckets * 2 * (n - 1) * latency_us * 1e-6
    nohide = lb["loop-nooverlap"][0] + net  # the whole path after the backward pass, then the network
    t_ov, host, host_exposed = lb["loop-b5"][0], lb["loop-b5"][1], lb["loop-b5"][2]
    window = backward_share * plain  # the backward pass the buckets overlap with
    # the network's time joins the host's reduction; what no longer fits the window shows, and at least
    # the last bucket's share of it
    extra = max(net / buckets, host + net - window - host_exposed)
    return net, nohide, t_ov + max(0.0, extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--loopback", default=None, help="a folder of bench/run_loopback.sh (one GPU)")
    ap.add_argument("--grad-mb", type=float, default=44.7, help="gradient megabytes (ResNet-18 CIFAR: 44.7)")
    ap.add_argument("--backward-share", type=float, default=0.68,
                    help="the backward pass's share of an iteration (ResNet-18 on an H100: 69 of 101 ms)")
    ap.add_argument("--gbps", type=float, default=100.0, help="network bandwidth, Gbit/s")
    ap.add_argument("--latency-us", type=float, default=20.0, help="per message")
    ap.add_argument("--bucket-mb", type=float, default=5.0)
    ap.add_argument("--png", default=None)
    a = ap.parse_args()
    r = json.load(open(a.results))
    runs = r["runs"]
    print(f"Measured: {r['net']}, global batch {r['global_batch']}, {r['gafcl']}")
    print("| run | processes | devices | overlap | s/iteration | vs 1 process | reduction ms | not hidden ms | hidden |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = {}
    for x in runs:
        if x["ranks"] == 1:
            base[x["devices"]] = x["iteration_s"]
    for x in runs:
        first = x["devices"].split(",")[0]
        ref = base.get(first)
        ratio = f"{x['iteration_s'] / ref:.2f}x" if ref else "-"
        if x["ranks"] > 1:
            hid = 1 - x["comm_exposed_s"] / x["comm_s"] if x["comm_s"] > 0 else 0
            print(f"| {x['name']} | {x['ranks']} | {x['devices']} | {'on' if x['overlap'] else 'off'} | "
                  f"{x['iteration_s']:.3f} | {ratio} | {1e3 * x['comm_s']:.1f} | {1e3 * x['comm_exposed_s']:.1f} | "
                  f"{100 * hid:.0f}% |")
        else:
            print(f"| {x['name']} | 1 | {x['devices']} | - | {x['iteration_s']:.3f} | 1.00x | - | - | - |")
    grad = runs[0]["gradient_bytes"]
    for x in runs:
        if x["ranks"] > 1 and not x["overlap"] and x["comm_s"] > 0:
            print(f"{x['name']}: {x['bytes_per_rank'] / 1e6:.1f} MB per process and direction in "
                  f"{1e3 * x['comm_s']:.1f} ms: {x['bytes_per_rank'] / x['comm_s'] / 1e9:.2f} GB/s through "
                  f"{'shared memory' if True else ''} (with the sums and the copies to and from the devices)")
    if not a.loopback:
        return
    lb = loopback(a.loopback)
    print(f"\nOne GPU through the data-parallel path against itself (bench/run_loopback.sh, {lb['plain'][3]}):")
    print("| run | ms/iteration | vs plain | reduction ms | not hidden ms | hidden |")
    print("|---|---|---|---|---|---|")
    for k, (t, c, e, _) in lb.items():
        hid = f"{100 * (1 - e / c):.0f}%" if c > 0 else "-"
        print(f"| {k} | {1e3 * t:.1f} | {t / lb['plain'][0]:.2f}x | {1e3 * c:.1f} | {1e3 * e:.1f} | {hid} |")
    grad = a.grad_mb * 1e6
    print(f"\nModel: N GPUs of that kind, each with the measured batch, {grad / 1e6:.1f} MB of gradients, "
          f"{a.gbps:g} Gb/s network, {a.latency_us:g} us per message, {a.bucket_mb:g} MiB buckets, the backward "
          f"pass {100 * a.backward_share:.0f}% of an iteration")
    print("| GPUs | network ms | ms/iteration, nothing hidden | ms/iteration, overlapped | speed-up (overlapped) | efficiency |")
    print("|---|---|---|---|---|---|")
    rows = []
    compute = lb["plain"][0]
    for n in (1, 2, 4, 8):
        net, t0, t1 = model(lb, grad, n, a.gbps, a.latency_us, a.bucket_mb, a.backward_share)
        rows.append((n, net, t0, t1))
        print(f"| {n} | {1e3 * net:.1f} | {1e3 * t0:.1f} | {1e3 * t1:.1f} | {n * compute / t1:.2f}x | "
              f"{100 * compute / t1:.0f}% |")
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        names = [x["name"] for x in runs]
        ax[0].bar(range(len(runs)), [x["iteration_s"] for x in runs], color="#88a")
        ax[0].bar(range(len(runs)), [x.get("comm_exposed_s", 0) for x in runs], color="#c44",
                  label="reduction not hidden")
        ax[0].set_xticks(range(len(runs)))
        ax[0].set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        ax[0].set_ylabel("s per iteration")
        ax[0].set_title(f"measured: {r['net']}, global batch {r['global_batch']}", fontsize=9)
        ax[0].legend(fontsize=7)
        ns = [x[0] for x in rows]
        ax[1].plot(ns, ns, "k:", label="ideal")
        ax[1].plot(ns, [n * compute / x[2] for n, x in zip(ns, rows)], "o-", label="nothing hidden")
        ax[1].plot(ns, [n * compute / x[3] for n, x in zip(ns, rows)], "s-", label="overlapped")
        ax[1].set_xlabel("GPUs")
        ax[1].set_ylabel("speed-up (weak scaling)")
        ax[1].set_title(f"model: {a.gbps:g} Gb/s, from one {lb['plain'][3]}", fontsize=9)
        ax[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print("written:", a.png)


if __name__ == "__main__":
    sys.exit(main())
