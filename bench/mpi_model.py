#!/usr/bin/env python3
"""Data-parallel scaling: the measured runs of bench/run_mpi.sh and a model of N GPUs over a network.

    bench/mpi_model.py RESULTS.json [--gpu-bench bench/results/nvidia-h100-bench-resnet18.json]
                       [--gbps 100] [--pcie-gbs 20] [--latency-us 20] [--bucket-mb 25] [--png FIGURE]

Prints the measured table (time per iteration, the gradient reduction, the part the backward pass did not
hide) and the model: weak scaling (each GPU keeps its batch), the gradients reduced as gafcl does (an
all-to-all of N chunks, the owner's sum, an all-gather: 2 (N-1)/N of the gradient bytes per GPU and
direction over the network, plus the copies to and from host memory that OpenCL needs, plus one latency
per message), with two bounds: nothing hidden, and everything hidden but the last bucket (whose copies
and reduction can only start when the backward pass ends).
"""
import argparse
import json
import math
import sys


def model(compute_s, backward_s, grad_bytes, n, gbps, pcie_gbs, latency_us, bucket_mb):
    """(communication s, iteration s without overlap, iteration s with overlap) for n GPUs"""
    if n == 1:
        return 0.0, compute_s, compute_s
    net = 2 * (n - 1) / n * grad_bytes / (gbps * 1e9 / 8)
    copies = 2 * grad_bytes / (pcie_gbs * 1e9)
    buckets = max(1, math.ceil(grad_bytes / (bucket_mb * 2**20)))
    lat = buckets * 2 * (n - 1) * latency_us * 1e-6
    comm = net + copies + lat
    last = comm / buckets  # the last bucket: its copies and its reduction after the pass
    exposed = max(last, comm - backward_s)
    return comm, compute_s + comm, compute_s + exposed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--gpu-bench", default=None, help="gafcl bench JSON of one GPU (the compute time per iteration)")
    ap.add_argument("--gbps", type=float, default=100.0, help="network bandwidth, Gbit/s")
    ap.add_argument("--pcie-gbs", type=float, default=20.0, help="device <-> host copies, GB/s")
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
    if not a.gpu_bench:
        return
    g = json.load(open(a.gpu_bench))
    v = [v for v in g["nets"][0]["variants"] if v["gaf"] == "none"][0]
    compute = v["iteration_ms"] / 1e3
    backward = v["backward_ms"] / 1e3
    print(f"\nModel: {g['nets'][0]['net']} on {g['device']}, batch {g['batch']} per GPU, gafcl's measured "
          f"iteration {1e3 * compute:.1f} ms (backward {1e3 * backward:.1f} ms); {grad / 1e6:.1f} MB of gradients; "
          f"{a.gbps:g} Gb/s network, {a.pcie_gbs:g} GB/s device copies, {a.latency_us:g} us per message, "
          f"{a.bucket_mb:g} MiB buckets")
    print("| GPUs | reduction ms | ms/iteration, nothing hidden | ms/iteration, overlapped | speed-up (overlapped) | efficiency |")
    print("|---|---|---|---|---|---|")
    rows = []
    for n in (1, 2, 4, 8):
        comm, t0, t1 = model(compute, backward, grad, n, a.gbps, a.pcie_gbs, a.latency_us, a.bucket_mb)
        rows.append((n, comm, t0, t1))
        print(f"| {n} | {1e3 * comm:.1f} | {1e3 * t0:.1f} | {1e3 * t1:.1f} | {n * compute / t1:.2f}x | "
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
        ax[1].set_title(f"model: {a.gbps:g} Gb/s, {g['nets'][0]['net']} batch {g['batch']} per GPU", fontsize=9)
        ax[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print("written:", a.png)


if __name__ == "__main__":
    sys.exit(main())
