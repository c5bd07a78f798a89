#!/usr/bin/env python3
"""Peers of the `mi-pairs` suite (never part of the engine): the strongest single-threaded numpy/scipy/scikit-learn
code we know for each estimator, on the SAME files the C# suite wrote, timed once per invocation (the suite calls this
once per round, interleaved with its own timings, and keeps the minimum of each side).

usage: mi_pairs_peer.py DATA S N PAIRS [SLOW [METHODS]]
                                                  -> distinct pairs (every method below, or the comma-separated
                                                     METHODS; the scikit-learn KSG methods time the first SLOW pairs
                                                     only, default all)
       mi_pairs_peer.py DATA S N --all-pairs      -> copula over all pairs: ranks + ndtri + ssyrk (float32)
DATA = S x N little-endian float32 row-major; PAIRS = lines "i,j" (distinct pairs).

Each pair-list method is timed over the whole list INCLUDING its per-column preparation of the columns the list uses,
as the engine's EstimatePairs is. Prints one JSON object: per method {"s": wall seconds, "cpu_s": process CPU
seconds, "values": [...]} (values: one per pair timed).
- plugin_bincount: equal-frequency labels from stable ranks (the engine's bins), then per pair np.bincount of
  lx*B+ly and MI from the counts.
- plugin_gemm: one-hot float64 S x B per column, per pair the B x B joint counts as one GEMM.
- ksg_sklearn: sklearn.feature_selection.mutual_info_regression(n_neighbors=3, random_state=0) per pair (public API:
  scaling, the 1e-10 jitter and its KSG).
- ksg_sklearn_core: the same KSG without the jitter: columns scaled once with sklearn.preprocessing.scale
  (with_mean=False, as mutual_info_regression does), then sklearn's own _compute_mi_cc per pair. Its values are the
  exactness reference for the engine's KSG (jitter off).
- ksg_ckdtree: a plain scipy KSG: columns scaled and sorted once; per pair a cKDTree, k=4 query in the max-norm,
  r = nextafter(eps, 0), n_x and n_y by searchsorted on the sorted marginals.
- copula: normal scores per column (stable ranks, ndtri((r+1)/(S+1)), centred, unit norm), per pair a dot product.
"""
import json
import sys
import time

import numpy as np
from scipy.linalg.blas import ssyrk
from scipy.spatial import cKDTree
from scipy.special import digamma, ndtri
from sklearn.feature_selection import mutual_info_regression
from sklearn.feature_selection._mutual_info import _compute_mi_cc
from sklearn.preprocessing import scale

BINS = 16
K = 3


def stable_ranks(v):
    r = np.empty(v.size, dtype=np.int64)
    r[np.argsort(v, kind="stable")] = np.arange(v.size)
    return r


def clogc(c):
    c = c[c > 0].astype(np.float64)
    return float(np.sum(c * np.log(c)))


def plugin_bincount(z, pairs, cols):
    s = z.shape[0]
    lab, marg = {}, {}
    for j in cols:
        lab[j] = (stable_ranks(z[:, j]) * BINS) // s
        marg[j] = clogc(np.bincount(lab[j], minlength=BINS))
    out = []
    for i, j in pairs:
        c = np.bincount(lab[i] * BINS + lab[j], minlength=BINS * BINS)
        out.append(max(0.0, np.log(s) + (clogc(c) - marg[i] - marg[j]) / s))
    return out


def plugin_gemm(z, pairs, cols):
    s = z.shape[0]
    hot, marg = {}, {}
    eye = np.eye(BINS)
    for j in cols:
        lab = (stable_ranks(z[:, j]) * BINS) // s
        hot[j] = eye[lab]
        marg[j] = clogc(np.bincount(lab, minlength=BINS))
    out = []
    for i, j in pairs:
        c = hot[i].T @ hot[j]
        out.append(max(0.0, np.log(s) + (clogc(c.ravel()) - marg[i] - marg[j]) / s))
    return out


def ksg_sklearn(z, pairs, cols):
    return [float(mutual_info_regression(z[:, i:i + 1], z[:, j], n_neighbors=K, random_state=0)[0]) for i, j in pairs]


def ksg_sklearn_core(z, pairs, cols):
    sc = {j: scale(z[:, j], with_mean=False) for j in cols}
    return [float(_compute_mi_cc(sc[i], sc[j], K)) for i, j in pairs]


def ksg_ckdtree(z, pairs, cols):
    s = z.shape[0]
    sc, srt = {}, {}
    for j in cols:
        sc[j] = scale(z[:, j], with_mean=False)
        srt[j] = np.sort(sc[j])
    base = digamma(s) + digamma(K)
    out = []
    for i, j in pairs:
        x, y = sc[i], sc[j]
        d, _ = cKDTree(np.column_stack((x, y))).query(np.column_stack((x, y)), k=K + 1, p=np.inf)
        r = np.nextafter(d[:, -1], 0)
        nx = np.searchsorted(srt[i], x + r, "right") - np.searchsorted(srt[i], x - r, "left") - 1
        ny = np.searchsorted(srt[j], y + r, "right") - np.searchsorted(srt[j], y - r, "left") - 1
        out.append(max(0.0, float(base - np.mean(digamma(nx + 1)) - np.mean(digamma(ny + 1)))))
    return out


def score_table(s):
    t = ndtri((np.arange(s) + 1.0) / (s + 1.0))
    t -= t.mean()
    return t / np.sqrt(t @ t)


def copula(z, pairs, cols):
    s = z.shape[0]
    t = score_table(s)
    g = {j: t[stable_ranks(z[:, j])] for j in cols}
    return [float(-0.5 * np.log(1 - min((g[i] @ g[j]) ** 2, 1 - 1e-7))) for i, j in pairs]


def copula_all_pairs(z):
    """All pairs: ranks (argsort per column), normal scores, float32 Gram by ssyrk, -1/2 ln(1 - r^2). Returns the
    seconds of each stage and a checksum of the upper triangle."""
    s, n = z.shape
    t0 = time.perf_counter()
    ranks = np.empty((n, s), dtype=np.int64)
    order = np.argsort(z.T, axis=1, kind="stable")
    np.put_along_axis(ranks, order, np.arange(s)[None, :].repeat(n, 0), axis=1)
    t1 = time.perf_counter()
    g = np.asfortranarray(score_table(s).astype(np.float32)[ranks].T)  # S x N, column-major
    t2 = time.perf_counter()
    c = ssyrk(1.0, g, trans=1, lower=0)  # N x N upper triangle of G^T G
    t3 = time.perf_counter()
    iu = np.triu_indices(n, 1)
    r2 = np.minimum(np.square(c[iu], dtype=np.float32), np.float32(1 - 1e-7))
    mi = -0.5 * np.log1p(-r2)
    t4 = time.perf_counter()
    return {"ranks_s": t1 - t0, "scores_s": t2 - t1, "ssyrk_s": t3 - t2, "log_s": t4 - t3, "total_s": t4 - t0,
            "sum": float(mi.sum(dtype=np.float64))}


METHODS = {"plugin_bincount": plugin_bincount, "plugin_gemm": plugin_gemm, "ksg_sklearn": ksg_sklearn,
           "ksg_sklearn_core": ksg_sklearn_core, "ksg_ckdtree": ksg_ckdtree, "copula": copula}


def main():
    data, s, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    z = np.fromfile(data, dtype="<f4").reshape(s, n).astype(np.float64)
    if sys.argv[4] == "--all-pairs":
        print(json.dumps(copula_all_pairs(z.astype(np.float32))))
        return
    pairs = [tuple(int(v) for v in line.split(",")) for line in open(sys.argv[4]) if line.strip()]
    slow = int(sys.argv[5]) if len(sys.argv) > 5 else len(pairs)
    wanted = sys.argv[6].split(",") if len(sys.argv) > 6 else list(METHODS)
    res = {}
    for name, fn in METHODS.items():
        if name not in wanted:
            continue
        mine = pairs[:slow] if name.startswith("ksg_sklearn") else pairs
        cols = sorted({c for p in mine for c in p})
        c0 = time.process_time()
        t0 = time.perf_counter()
        values = fn(z, mine, cols)
        res[name] = {"s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "values": values}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
