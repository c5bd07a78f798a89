#!/usr/bin/env python3
"""Peer timings for the MI estimators (never part of the engine).

Reads the SAME files the C# suite writes: DATA = S x N little-endian float32 row-major, PAIRS = lines "i,j".
Times, per pair: numpy histogram2d (16 bins) plus MI from its counts, scikit-learn mutual_info_score on
equal-frequency bin labels (labels per column computed once, outside the timing, as the engine does), and
scikit-learn KSG (mutual_info_regression, k=3). Prints one JSON object on the last line: pairs per second each,
pairs per CPU-second (time.process_time), and the first few MI values so the suite can check both sides computed the same thing.
With `--single [REPEATS]` after PAIRS (the mi-single suite): per pair the minimum over REPEATS calls, in microseconds,
averaged over the pairs, and every pair's value.
"""
import json
import sys
import time

import numpy as np
from sklearn.feature_selection import mutual_info_regression
from sklearn.metrics import mutual_info_score


def timed(fn, pairs, budget_s):
    out = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    for p in pairs:
        out.append(fn(*p))
        if time.perf_counter() - t0 > budget_s:
            break
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    return len(out) / dt, len(out) / dc, len(out), out


def single(fn, pairs, repeats):
    """Mean over pairs of the minimum over `repeats` timed calls (one thread; the least disturbed run), in us:
    wall-clock (perf_counter) and process CPU time (process_time)."""
    total = total_cpu = 0.0
    values = []
    for p in pairs:
        values.append(fn(*p))
        best = best_cpu = float("inf")
        for _ in range(repeats):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn(*p)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        total += best
        total_cpu += best_cpu
    return {"us": total / len(pairs) * 1e6, "cpu_us": total_cpu / len(pairs) * 1e6, "values": values}


def main():
    data, s, n, pairs_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    single_mode = len(sys.argv) > 5 and sys.argv[5] == "--single"
    budget = float(sys.argv[5]) if len(sys.argv) > 5 and not single_mode else 3.0
    z = np.fromfile(data, dtype="<f4").reshape(s, n).astype(np.float64)
    pairs = [tuple(int(v) for v in line.split(",")) for line in open(pairs_file) if line.strip()]
    bins = 16
    ranks = np.argsort(np.argsort(z, axis=0, kind="stable"), axis=0, kind="stable")
    labels = (ranks * bins) // s

    def hist2d(i, j):
        h, _, _ = np.histogram2d(z[:, i], z[:, j], bins=bins)
        p = h / s
        px = p.sum(1, keepdims=True)
        py = p.sum(0, keepdims=True)
        nz = p > 0
        return float(np.sum(p[nz] * np.log(p[nz] / (px @ py)[nz])))

    def plugin(i, j):
        return float(mutual_info_score(labels[:, i], labels[:, j]))

    def ksg(i, j):
        return float(mutual_info_regression(z[:, i:i + 1], z[:, j], n_neighbors=3, random_state=0)[0])

    res = {"s": s, "n": n}
    if single_mode:
        repeats = int(sys.argv[6]) if len(sys.argv) > 6 else 7
        for name, fn in (("histogram2d", hist2d), ("sklearn_plugin", plugin), ("sklearn_ksg", ksg)):
            res[name] = single(fn, pairs, repeats)
        print(json.dumps(res))
        return
    for name, fn in (("histogram2d", hist2d), ("sklearn_plugin", plugin), ("sklearn_ksg", ksg)):
        rate, cpu_rate, count, values = timed(fn, pairs, budget)
        res[name] = {"pairs_per_s": rate, "pairs_per_cpu_s": cpu_rate, "pairs": count, "first": values[:5]}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
