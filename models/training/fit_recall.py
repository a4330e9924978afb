"""Fits recall's mixing constants on the validation split, from a dump of the engine's own inputs.

    node bin/linea.js eval VAL_DIR --bpb 1024 --files 40 [--workspace 20] --dump /tmp/val.jsonl
    python fit_recall.py /tmp/val.jsonl [--test /tmp/test.jsonl]

Each dump line is one scored token: the model's p(target) and entropy (nats), the target's bytes, and
recall's counts by distance d (0 the document, 1 open editors, 2 recent files) and order k: c[d][k]
occurrences matching at least k tokens, n[d][k] of them continuing with the target, u[d][k] the distinct
tokens they continue with. The mixture is
src/engine/core/recall.ts's, nested over k within a distance and from the farthest distance to the document:
p <- (n_k + κ p) / (c_k + κ), with κ = kappa * gamma^(k - 1) * u_k^alpha * exp(beta * (h0 - entropy))
(kappa_far, gamma_far and alpha_far for recent files): gamma < 1 trusts long matches more; alpha > 0
trusts a context less the more different tokens followed it (Witten-Bell's idea; alpha 1 took val
bits/byte from -9.8% to -13.3% with the document alone, and val line EM 19.0 -> 21.0 of 200 cuts);
beta > 0 trusts recall more where the model is unsure (it did not help: beta 0 was best).
Constants are chosen on the file given first (validation); --test only reports.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys

import numpy as np

H0 = 2.0  # nats: the entropy at which the entropy term is 1


def load(path: str) -> dict[str, np.ndarray]:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return {"p": np.array([r["p"] for r in rows], dtype=np.float64),  # (N,)
            "h": np.array([r["h"] for r in rows], dtype=np.float64),  # (N,)
            "b": np.array([r["b"] for r in rows], dtype=np.float64),  # (N,)
            "c": np.array([r["c"] for r in rows], dtype=np.float64),  # (N, D, K+1)
            "n": np.array([r["n"] for r in rows], dtype=np.float64),  # (N, D, K+1)
            "u": np.array([r.get("u", r["c"]) for r in rows], dtype=np.float64)}  # (N, D, K+1)


def mixed_bpb(d: dict, kappa: float, gamma: float, kappa_far: float, gamma_far: float, alpha: float = 0.0,
              alpha_far: float = 0.0, beta: float = 0.0) -> float:
    """Orders from 1 up (the highest order last, with the final say), distances from the farthest."""
    p = d["p"].copy()  # (N,)
    ent = np.exp(beta * (H0 - d["h"]))  # (N,)
    n_dist, k_max = d["c"].shape[1], d["c"].shape[2] - 1
    for dist in range(n_dist - 1, -1, -1):
        base, decay, power = (kappa, gamma, alpha) if dist < 2 else (kappa_far, gamma_far, alpha_far)
        for k in range(1, k_max + 1):  # order 0 (a healed partial word) never occurs in bits/byte
            c, n, u = d["c"][:, dist, k], d["n"][:, dist, k], d["u"][:, dist, k]  # (N,)
            kk = base * decay ** (k - 1) * np.maximum(u, 1) ** power * ent  # (N,)
            p = np.where(c > 0, (n + kk * p) / (c + kk), p)
    return float(-np.log2(p).sum() / d["b"].sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("val")
    ap.add_argument("--test")
    args = ap.parse_args(argv)
    val = load(args.val)
    alone = float(-np.log2(val["p"]).sum() / val["b"].sum())
    print(f"val: {len(val['p'])} tokens, model alone {alone:.4f} bits/byte")
    print(f"  kappa 8 everywhere: {mixed_bpb(val, 8, 1, 8, 1):.4f}")
    grid = {"kappa": [4, 8, 16], "gamma": [0.9, 1.0], "kappa_far": [16, 32, 64],
            "gamma_far": [0.7, 0.8, 0.9], "alpha": [0.0, 1.0, 1.5], "alpha_far": [0.0, 1.0, 1.5], "beta": [0.0]}
    results = sorted((mixed_bpb(val, *c), c) for c in itertools.product(*grid.values()))
    for v, c in results[:5]:
        print(f"  {dict(zip(grid, c))}: {v:.4f} ({100 * (v / alone - 1):+.1f}%)")
    if args.test:
        test = load(args.test)
        t_alone = float(-np.log2(test["p"]).sum() / test["b"].sum())
        t = mixed_bpb(test, *results[0][1])
        print(f"test: model alone {t_alone:.4f}, fitted {t:.4f} ({100 * (t / t_alone - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
