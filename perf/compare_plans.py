#!/usr/bin/env python3
"""Compares two prune plans (--plan-only output of `llmprune prune`): the decisions, then the numbers.

Usage: compare_plans.py REFERENCE.json OTHER.json
Prints one line and exits 0 when both plans make the same decisions (per layer: the kept neurons, and for each
removed neuron its partner and reason), 1 when they do not, 2 when a file cannot be read. Scores and MI values
computed on different hardware differ in their last digits (summation order, float32 on the device for the copula);
the line reports the largest absolute and relative differences so a reader can judge them.
"""
import json
import sys


def decisions(plan):
    return [(layer["index"], layer["kept"], [(r["neuron"], r.get("partner"), r.get("reason")) for r in layer["removed"]])
            for layer in plan["layers"]]


def numbers(plan):
    for layer in plan["layers"]:
        for r in layer["removed"]:
            for key in ("score", "mi"):
                if r.get(key) is not None:
                    yield (layer["index"], r["neuron"], key), r[key]


def main(a_path, b_path):
    try:
        a, b = (json.load(open(p)) for p in (a_path, b_path))
    except (OSError, ValueError) as e:
        print(f"cannot read the plans: {e}")
        return 2
    da, db = decisions(a), decisions(b)
    if da != db:
        for (la, ka, ra), (lb, kb, rb) in zip(da, db):
            if (ka, ra) != (kb, rb):
                ma, mb = ({n: rest for n, *rest in r} for r in (ra, rb))
                both = ma.keys() & mb.keys()
                print(f"DIFFERENT decisions: first at layer {la}: {len(ma.keys() ^ mb.keys())} neurons removed by one plan only"
                      f" ({sorted(ma.keys() - mb.keys())[:5]} vs {sorted(mb.keys() - ma.keys())[:5]}),"
                      f" partner or reason differs for {sum(1 for n in both if ma[n] != mb[n])} of the {len(both)} removed by both")
                return 1
        print(f"DIFFERENT decisions: {len(da)} vs {len(db)} layers")
        return 1
    nb = dict(numbers(b))
    worst_abs = worst_rel = 0.0
    for key, va in numbers(a):
        vb = nb.get(key)
        if vb is None:
            continue
        d = abs(va - vb)
        worst_abs = max(worst_abs, d)
        worst_rel = max(worst_rel, d / max(abs(va), 1e-300))
    removed = sum(len(r) for _, _, r in da)
    same_bytes = open(a_path, "rb").read() == open(b_path, "rb").read()
    print(f"same decisions ({removed} neurons removed in {len(da)} layers, same partners){', byte-identical' if same_bytes else ''};"
          f" scores/MI differ by at most {worst_abs:.2e} absolute, {worst_rel:.2e} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]) if len(sys.argv) == 3 else (print(__doc__) or 2))
