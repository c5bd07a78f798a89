#!/usr/bin/env python3
"""Compares two prune plans (--plan-only output of `llmprune prune`): the decisions, then the numbers.

Usage: compare_plans.py REFERENCE.json OTHER.json
Prints one line and exits 0 when both plans make the same decisions (per layer: the same neurons removed, each
with the same partner), 1 when they do not, 2 when a file cannot be read. Scores and MI values computed on
different hardware differ in their last digits (summation order; float32 GEMMs for the copula), which can also move
the printed digits of a reason, the order of removal, or the partner where two candidates tie: the line says which,
with the largest numeric differences and, for a different partner, both plans' MI with their own partner (equal
values mean a tie broken differently).
"""
import json
import sys


def removed(plan):
    """Per layer: {neuron: (partner, mi, score, reason, position in the removal order)}."""
    return [{r["neuron"]: (r.get("partner"), r.get("mi"), r.get("score"), r.get("reason"), pos)
             for pos, r in enumerate(layer["removed"])} for layer in plan["layers"]]


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def main(a_path, b_path):
    try:
        a, b = (json.load(open(p)) for p in (a_path, b_path))
    except (OSError, ValueError) as e:
        print(f"cannot read the plans: {e}")
        return 2
    ra, rb = removed(a), removed(b)
    if len(ra) != len(rb):
        print(f"DIFFERENT plans: {len(ra)} vs {len(rb)} layers")
        return 1
    for layer, (x, y) in enumerate(zip(ra, rb)):
        if x.keys() != y.keys():
            print(f"DIFFERENT neurons removed: layer {layer}: {len(x.keys() ^ y.keys())} removed by one plan only"
                  f" ({sorted(x.keys() - y.keys())[:5]} vs {sorted(y.keys() - x.keys())[:5]})")
            return 1
    partners, order, reasons, worst = [], 0, 0, {"mi": 0.0, "score": 0.0}
    for layer, (x, y) in enumerate(zip(ra, rb)):
        for n, (pa, mia, sa, ta, oa) in x.items():
            pb, mib, sb, tb, ob = y[n]
            if pa != pb:
                partners.append(f"L{layer} n{n}: {pa} (mi {mia!r}) vs {pb} (mi {mib!r})")
            order += oa != ob
            reasons += ta != tb
            for key, va, vb in (("mi", mia, mib), ("score", sa, sb)):
                if va is not None and vb is not None and pa == pb:
                    worst[key] = max(worst[key], rel(va, vb))
    count = sum(len(x) for x in ra)
    same_bytes = open(a_path, "rb").read() == open(b_path, "rb").read()
    detail = (f"{count} neurons removed in {len(ra)} layers; max relative difference mi {worst['mi']:.1e}, score {worst['score']:.1e};"
              f" removal order differs for {order}, reason text for {reasons}")
    if partners:
        print(f"SAME neurons removed, DIFFERENT partner for {len(partners)} ({'; '.join(partners[:4])}); {detail}")
        return 1
    print(f"same decisions (neurons and partners){', byte-identical' if same_bytes else ''}; {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]) if len(sys.argv) == 3 else (print(__doc__) or 2))
