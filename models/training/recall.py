"""Exact recall mixed into the model's next-token distribution: src/engine/core/recall.ts in Python, for the
evaluator's bits/byte and line completion with recall. test/fixtures/recall-parity.json holds cases both
implementations must reproduce (tests/test_recall.py here, test/engine/recallParity.test.ts there).

Sources are token arrays at a distance (0 the document, 1 an open editor, 2 a recently edited file).
Candidates are the positions whose preceding tokens match the context's tail (up to max_order); the
mixture is nested over the orders within a distance, and over the distances from the farthest in:
p <- (n_k(t) + κ_k p) / (c_k + κ_k), κ_k = κ γ^(k-1) u_k^α, u_k the distinct tokens after the matches
of at least k tokens (Witten-Bell's idea: a context followed by many different tokens says less).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RecallOptions:
    max_order: int = 16
    kappa: float = 8.0
    kappa_partial: float = 1.0
    max_candidates: int = 2048
    scan_budget: int = 4_000_000
    max_rescans: int = 4
    rescan_budget: int = 65_536
    order_decay: float = 0.9
    kappa_far: float = 32.0
    order_decay_far: float = 0.8
    distinct_power: float = 1.0
    distinct_power_far: float = 1.0

    @classmethod
    def from_ts(cls, o: dict) -> "RecallOptions":
        """From the TypeScript option names (camelCase), as the parity fixture stores them."""
        names = {"maxOrder": "max_order", "kappa": "kappa", "kappaPartial": "kappa_partial", "maxCandidates": "max_candidates",
                 "scanBudget": "scan_budget", "maxRescans": "max_rescans", "rescanBudget": "rescan_budget",
                 "orderDecay": "order_decay", "kappaFar": "kappa_far", "orderDecayFar": "order_decay_far",
                 "distinctPower": "distinct_power", "distinctPowerFar": "distinct_power_far"}
        return cls(**{names[k]: v for k, v in o.items() if k in names})


@dataclass
class Source:
    ids: list[int]
    distance: int = 0
    skip_from: int | None = None
    skip_to: int | None = None


class RecallMatcher:
    """Candidates for the next token and the mixture; advance() follows the decoder's choices."""

    def __init__(self, sources: list[Source], context: list[int], options: RecallOptions | None = None):
        self.sources, self.o = sources, options or RecallOptions()
        self.context = list(context)[-self.o.max_order :]
        self.rescans = 0
        self.cands: list[tuple[int, int, int]] = []  # (source, position predicted, matched length)
        self._scan()

    def _scan(self) -> None:
        o, ctx = self.o, self.context
        last = len(ctx) - 1
        by_len: list[list[tuple[int, int, int]]] = [[] for _ in range(o.max_order + 1)]
        budget = o.rescan_budget if self.rescans > 0 else o.scan_budget
        if last < 0:
            self.cands = []
            return
        tail = ctx[last]

        def visit(s: int, ids: list[int], pos: int) -> None:
            if ids[pos - 1] != tail:
                return
            n = 1
            while n < o.max_order and n <= last and pos - 1 - n >= 0 and ids[pos - 1 - n] == ctx[last - n]:
                n += 1
            if len(by_len[n]) < o.max_candidates:
                by_len[n].append((s, pos, n))

        for s, src in enumerate(self.sources):  # nearest first: back from the cursor, then on after it
            if budget <= 0:
                break
            ids = src.ids
            start = len(ids) if src.skip_from is None else src.skip_from
            end = len(ids) if src.skip_to is None else src.skip_to
            for pos in range(min(start, len(ids)) - 1, 0, -1):
                if budget <= 0:
                    break
                visit(s, ids, pos)
                budget -= 1
            for pos in range(max(1, end), len(ids)):
                if budget <= 0:
                    break
                visit(s, ids, pos)
                budget -= 1
        out: list[tuple[int, int, int]] = []
        for n in range(o.max_order, -1, -1):
            for c in by_len[n]:
                if len(out) >= o.max_candidates:
                    break
                out.append(c)
        self.cands = out

    def _level(self, cands, kappa: float, decay: float, power: float) -> tuple[float, dict[int, float]]:
        at_least = np.zeros(self.o.max_order + 2)  # (K+2,)
        by_len: list[list[int]] = [[] for _ in range(self.o.max_order + 1)]
        order = 0
        for s, pos, n in cands:
            at_least[n] += 1
            by_len[n].append(self.sources[s].ids[pos])
            order = max(order, n)
        for k in range(self.o.max_order - 1, -1, -1):
            at_least[k] += at_least[k + 1]
        lowest = 0 if at_least[0] > at_least[1] else 1
        distinct = np.zeros(self.o.max_order + 2)  # (K+2,) u_k: distinct tokens after the matches of >= k tokens
        seen: set[int] = set()
        for k in range(order, -1, -1):
            seen.update(by_len[k])
            distinct[k] = len(seen)
        w = np.zeros(self.o.max_order + 2)  # (K+2,) weight an occurrence of length L adds: sum of w[k<=L]
        scale = 1.0
        for k in range(order, lowest - 1, -1):
            kk = self.o.kappa_partial if k == 0 else kappa * decay ** (k - 1) * max(1.0, distinct[k]) ** power
            w[k] = scale / (at_least[k] + kk)
            scale *= kk / (at_least[k] + kk)
        for k in range(lowest + 1, order + 1):
            w[k] += w[k - 1]
        add: dict[int, float] = {}
        for s, pos, n in cands:
            t = self.sources[s].ids[pos]
            add[t] = add.get(t, 0.0) + w[n]
        return scale, add

    def weights(self) -> tuple[float, dict[int, float]] | None:
        """p_mixed = scale * p_model + add (add only for the tokens recall names)."""
        if not self.cands:
            return None
        groups: dict[int, list] = {}
        for c in self.cands:
            groups.setdefault(self.sources[c[0]].distance, []).append(c)
        scale, add = 1.0, {}
        for d in sorted(groups, reverse=True):
            kappa, decay, power = ((self.o.kappa, self.o.order_decay, self.o.distinct_power) if d < 2
                                   else (self.o.kappa_far, self.o.order_decay_far, self.o.distinct_power_far))
            s, a = self._level(groups[d], kappa, decay, power)
            add = {t: v * s for t, v in add.items()}
            for t, v in a.items():
                add[t] = add.get(t, 0.0) + v
            scale *= s
        return scale, add

    def mix(self, probs: np.ndarray) -> np.ndarray:
        """The mixed distribution (a new array) from the model's (V,) distribution."""
        w = self.weights()
        if w is None:
            return probs.copy()
        out = probs * w[0]  # (V,)
        for t, a in w[1].items():
            if t < len(out):
                out[t] += a
        return out

    def advance(self, token: int) -> None:
        self.context.append(token)
        self.context = self.context[-self.o.max_order :]
        nxt = []
        for s, pos, n in self.cands:
            src = self.sources[s]
            if src.ids[pos] != token or pos + 1 >= len(src.ids):
                continue
            p = pos + 1
            if src.skip_from is not None and src.skip_from <= p < (src.skip_to or 0):
                continue
            nxt.append((s, p, min(self.o.max_order, n + 1)))
        self.cands = nxt
        if not nxt and self.rescans < self.o.max_rescans:
            self.rescans += 1
            self._scan()
