"""Constant-state decoders: the seed linear attention and its decayed and delta-rule descendants.

All three keep a fixed-size matrix state per head, so a token costs the same at any context length.
Each chunk is computed in parallel (masked quadratic inside the chunk) plus the state carried in.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from config import DELTA_GRAPH_CHUNK, ModelConfig
from layers import NEG, Mixer, RMSNorm, ShortConv, StateSpec, causal_mask, elu1, fp32_core, heads, merge_heads, softplus, steps


@fp32_core
def linear_chunk(qf, kf, v, s, z, log_gamma, eps: float):
    """Causal (optionally decayed) linear attention over one chunk, Katharopoulos et al. 2020 eq. 8-9.

    qf, kf: phi(Q), phi(K) (B, H, T, dk) > 0; v (B, H, T, dv); s (B, H, dk, dv) = sum phi(K_j) V_j^T;
    z (B, H, dk) = sum phi(K_j); log_gamma (H,) per-head log decay (zeros for the seed form).
    """
    t = qf.shape[2]
    mask = causal_mask(t, qf)  # (T, T)
    i = steps(t, qf).float()
    lg = log_gamma[:, None, None]  # (H, 1, 1)
    dist = (i[:, None] - i[None, :]).clamp(min=0)  # (T, T) i - j for j <= i
    decay = torch.exp(dist * lg) * mask  # (H, T, T) gamma^(i-j), 0 above the diagonal
    a = (qf @ kf.transpose(-1, -2)) * decay  # (B, H, T, T)
    into = torch.exp((i + 1) * lg[..., 0])  # (H, T) decay of the carried state at position i
    num = a @ v + into[..., None] * (qf @ s)  # (B, H, T, dv)
    den = a.sum(-1) + into * (qf * z[:, :, None, :]).sum(-1)  # (B, H, T)
    out = num / (den[..., None] + eps)
    left = torch.exp((t - 1 - i) * lg[..., 0])  # (H, T) decay from position j to the chunk end
    keep = torch.exp(t * lg[..., 0])  # (H, 1) decay of the carried state across the whole chunk
    kd = kf * left[..., None]  # (B, H, T, dk)
    s = keep[..., None] * s + kd.transpose(-1, -2) @ v  # (B, H, dk, dv)
    z = keep * z + kd.sum(2)  # (B, H, dk)
    return out, s, z


class LinearAttention(Mixer):
    """`linear`: exactly the paper's form, phi = elu + 1, output phi(Q)S / (phi(Q)Z + eps), no position signal.

    `decay` adds what the seed lacks at our scale: a per-head decay gamma (RetNet's 1 - 2^-(5+h), the
    exponents spread over 5..12 so a 4-head model still has one head with a ~4k-token memory) and a short
    causal depthwise convolution (width 4, SiLU) on q, k, v.
    """

    def __init__(self, cfg: ModelConfig, decayed: bool):
        super().__init__()
        d, h = cfg.d_model, cfg.n_head
        self.n_head, self.hd, self.eps = h, cfg.head_dim, cfg.eps
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.conv = ShortConv(3 * d, cfg.conv_size) if decayed and cfg.conv_size > 1 else None
        exps = 5 + torch.arange(h, dtype=torch.float32) * (7.0 / max(h - 1, 1))
        log_gamma = torch.log1p(-(2.0**-exps)) if decayed else torch.zeros(h)
        self.register_buffer("log_gamma", log_gamma, persistent=False)
        self.train_chunk = cfg.chunk_size

    def state_spec(self):
        spec = [StateSpec("S", (self.n_head, self.hd, self.hd)), StateSpec("Z", (self.n_head, self.hd))]
        if self.conv is not None:
            spec.append(StateSpec("conv", (self.conv.k - 1, 3 * self.n_head * self.hd)))
        return spec

    def step(self, x, state, pos):
        qkv = self.qkv(x)  # (B, T, 3D)
        new_conv = []
        if self.conv is not None:
            qkv, past = self.conv(qkv, state[2])
            new_conv = [past]
        q, k, v = (heads(t, self.n_head) for t in qkv.chunk(3, dim=-1))  # (B, H, T, hd) each
        out, s, z = linear_chunk(elu1(q), elu1(k), v, state[0], state[1], self.log_gamma, self.eps)
        y = self.drop(self.proj(merge_heads(out.to(x.dtype))))
        return y, [s, z] + new_conv


def unit_lower_inverse(m: torch.Tensor, n_terms: int) -> torch.Tensor:
    """(I + M)^-1 for strictly lower-triangular M (T, T).

    Training uses a triangular solve. The exported graph has none (and no Loop), so it uses the finite
    Neumann series as prod_i (I + (-M)^(2^i)), i < n_terms, exact when 2^n_terms >= T. Its terms grow
    like binomials (M^k[i, j] ~ C(i - j - 1, k - 1) when keys align), so fp32 keeps it only for short
    chunks: the graph's chunk is capped at DELTA_GRAPH_CHUNK tokens (delta_blocks chains such chunks for
    longer reads). A 64-token product overflowed in training (NaN after 2M tokens), which is why
    training no longer uses it.
    """
    eye = (causal_mask(m.shape[-1], m) & causal_mask(m.shape[-1], m).transpose(0, 1)).to(m.dtype)
    if not torch.jit.is_tracing():
        return torch.linalg.solve_triangular(eye + m, eye.expand_as(m), upper=False, unitriangular=True)
    p = -m
    out = eye + p
    for _ in range(n_terms - 1):
        p = p @ p
        out = out @ (eye + p)
    return out


@fp32_core
def delta_chunk(q, k, v, beta, g, s, n_terms: int, last_only: bool = False):
    """Gated delta rule over one chunk (Yang et al. 2024, "Gated Delta Networks"), WY/UT form.

    Recurrence: S_t = a_t (I - b_t k_t^T k_t) S_{t-1} + b_t k_t^T v_t; o_t = q_t S_t (row vectors).
    q, k (B, H, T, dk) L2-normalised; v (B, H, T, dv); beta, g (B, H, T) with g = log a_t <= 0;
    s (B, H, dk, dv). Writing S_t = a_t S_{t-1} + k_t^T w_t gives (I + diag(b) A) W = diag(b)(V - diag(G) K S)
    with A[t, j] = (G_t / G_j) k_t.k_j for j < t, G the decay accumulated inside the chunk.
    With last_only the output is the last position's alone (B, H, 1, dv): o_T = q_T S_T.
    """
    t = q.shape[2]
    mask = causal_mask(t, q)  # (T, T)
    strict = mask & ~causal_mask(t, q).transpose(0, 1)  # j < i
    cum = (g[:, :, None, :] * mask).sum(-1)  # (B, H, T) log G_i = sum_{m <= i} g_m, no CumSum op
    diff = cum[..., :, None] - cum[..., None, :]  # (B, H, T, T) log(G_i / G_j)
    dec_in = torch.exp(torch.where(mask, diff, torch.full_like(diff, NEG)))  # 0 above the diagonal
    dec_st = dec_in * strict
    m = beta[..., None] * (k @ k.transpose(-1, -2)) * dec_st  # (B, H, T, T) strictly lower
    gi = torch.exp(cum)[..., None]  # (B, H, T, 1)
    rhs = beta[..., None] * (v - gi * (k @ s))  # (B, H, T, dv)
    w = unit_lower_inverse(m, n_terms) @ rhs  # (B, H, T, dv)
    if not last_only:
        out = gi * (q @ s) + ((q @ k.transpose(-1, -2)) * dec_in) @ w  # (B, H, T, dv)
    last = cum[..., -1:]  # (B, H, 1)
    s = torch.exp(last)[..., None] * s + (k * torch.exp(last - cum)[..., None]).transpose(-1, -2) @ w
    return (q[:, :, -1:] @ s if last_only else out), s


@fp32_core
def delta_blocks(q, k, v, beta, g, s, block: int, last_only: bool = False):
    """The gated delta rule over a chunk of nb * block tokens without inverting a long (I + M).

    Each sub-block's WY form is exact on its own (the block-sized Neumann product of delta_chunk) and
    affine in the state it starts from: W_b = U_b - P_b S_b. So the sub-block's state map is affine too,
    S_{b+1} = F_b S_b + E_b with F_b = G_last I - K~_b^T P_b (a product of decays and contractions
    I - beta k^T k, hence bounded), and its outputs are O_b = Qa_b S_b + C_b. Every term is computed for
    all sub-blocks at once; only the nb small state updates run in sequence (unrolled in the graph).
    Shapes as in delta_chunk, with T a multiple of block; last_only as there (the outputs' terms skipped).
    """
    b, h, t, dk = q.shape
    nb = t // block
    q, k, v = (x.reshape(b, h, nb, block, x.shape[-1]) for x in (q, k, v))  # (B, H, nb, c, d)
    beta, g = beta.reshape(b, h, nb, block), g.reshape(b, h, nb, block)  # (B, H, nb, c)
    mask = causal_mask(block, q)  # (c, c)
    strict = mask & ~mask.transpose(0, 1)  # j < i
    cum = (g[..., None, :] * mask).sum(-1)  # (B, H, nb, c) log G_i inside each sub-block
    diff = cum[..., :, None] - cum[..., None, :]  # (B, H, nb, c, c)
    dec_in = torch.exp(torch.where(mask, diff, torch.full_like(diff, NEG)))  # 0 above the diagonal
    m = beta[..., None] * (k @ k.transpose(-1, -2)) * (dec_in * strict)  # (B, H, nb, c, c) strictly lower
    inv = unit_lower_inverse(m, max(1, math.ceil(math.log2(max(block, 2)))))  # (B, H, nb, c, c)
    gi = torch.exp(cum)[..., None]  # (B, H, nb, c, 1)
    u = inv @ (beta[..., None] * v)  # (B, H, nb, c, dv) W's part from the block's own values
    p = inv @ (beta[..., None] * gi * k)  # (B, H, nb, c, dk) W's dependence on the incoming state
    last = cum[..., -1:]  # (B, H, nb, 1)
    kt = (k * torch.exp(last - cum)[..., None]).transpose(-1, -2)  # (B, H, nb, dk, c)
    eye = (steps(dk, q)[:, None] == steps(dk, q)[None, :]).to(q.dtype)  # (dk, dk)
    f = torch.exp(last)[..., None] * eye - kt @ p  # (B, H, nb, dk, dk)
    e = kt @ u  # (B, H, nb, dk, dv)
    # The state keeps a sub-block axis of 1 through the chain, so the graph splits f and e once and
    # concatenates the starts once instead of a Gather, Squeeze and Unsqueeze per sub-block.
    s = s[:, :, None]  # (B, H, 1, dk, dv)
    starts = []
    for fi, ei in zip(f.split(1, dim=2), e.split(1, dim=2)):  # (B, H, 1, dk, dk), (B, H, 1, dk, dv)
        starts.append(s)
        s = fi @ s + ei  # (B, H, 1, dk, dv)
    s = s[:, :, 0]  # (B, H, dk, dv)
    if last_only:
        return q[:, :, -1, -1:] @ s, s  # (B, H, 1, dv)
    att = (q @ k.transpose(-1, -2)) * dec_in  # (B, H, nb, c, c)
    qa = gi * q - att @ p  # (B, H, nb, c, dk)
    ca = att @ u  # (B, H, nb, c, dv)
    out = qa @ torch.cat(starts, dim=2) + ca  # (B, H, nb, c, dv)
    return out.reshape(b, h, t, -1), s


@fp32_core
def delta_token(q, k, v, beta, g, s):
    """One token of the gated delta rule: the same recurrence as delta_chunk with T = 1, without the
    chunk's masks and products, so the decoding graph is a handful of small ops per layer."""
    s = torch.exp(g)[..., None] * s  # (B, H, dk, dv) decayed
    w = beta[..., None] * (v - k @ s)  # (B, H, 1, dv)
    s = s + k.transpose(-1, -2) @ w  # (B, H, dk, dv)
    return q @ s, s  # (B, H, 1, dv)


class GatedDeltaNet(Mixer):
    """`deltanet`: the gated delta rule with a short convolution, per-head output norm and SiLU output gate."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, h = cfg.d_model, cfg.n_head
        self.n_head, self.hd = h, cfg.head_dim
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.conv = ShortConv(3 * d, max(cfg.conv_size, 2))
        self.beta = nn.Linear(d, h)
        self.alpha = nn.Linear(d, h)
        self.a_log = nn.Parameter(torch.log(torch.empty(h).uniform_(1, 16)))  # Mamba2-style decay rates
        self.dt_bias = nn.Parameter(torch.log(torch.expm1(torch.empty(h).uniform_(0.001, 0.1))))
        self.gate = nn.Linear(d, d, bias=False)
        self.norm = RMSNorm(self.hd)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.train_chunk = cfg.chunk_size
        self.max_chunk = cfg.graph_chunk
        self.export_t: int | None = None  # set while exporting a fixed-length graph

    def state_spec(self):
        return [StateSpec("S", (self.n_head, self.hd, self.hd)), StateSpec("conv", (self.conv.k - 1, 3 * self.n_head * self.hd))]

    def step(self, x, state, pos):
        return self._mix(x, state, False)

    def step_last(self, x, state, pos):
        return self._mix(x, state, True)

    def _mix(self, x, state, last_only: bool):
        """x (B, T, D) -> output (B, T, D) ((B, 1, D) with last_only: only o_T = q_T S_T), new state."""
        qkv, past = self.conv(self.qkv(x), state[1])  # (B, T, 3D)
        q, k, v = (heads(t, self.n_head) for t in qkv.chunk(3, dim=-1))  # (B, H, T, hd)
        q = F.normalize(q, dim=-1) / math.sqrt(self.hd)
        k = F.normalize(k, dim=-1)
        beta = torch.sigmoid(self.beta(x)).transpose(1, 2)  # (B, H, T)
        g = (-torch.exp(self.a_log) * softplus(self.alpha(x) + self.dt_bias)).transpose(1, 2)  # (B, H, T) <= 0
        t = x.shape[1]
        if (self.export_t if torch.jit.is_tracing() else t) == 1:
            out, s = delta_token(q, k, v, beta, g, state[0])
        elif torch.jit.is_tracing() and (self.export_t or 0) > self.max_chunk:
            # The fixed-length prefill graph: exact max_chunk sub-blocks chained by their state maps.
            out, s = delta_blocks(q, k, v, beta, g, state[0], self.max_chunk, last_only)
        else:
            # The chunk graph must serve any T <= max_chunk.
            span = (self.export_t or self.max_chunk) if torch.jit.is_tracing() else t
            n_terms = max(1, math.ceil(math.log2(max(span, 2))))
            out, s = delta_chunk(q, k, v, beta, g, state[0], n_terms, last_only)
        out = self.norm(out.to(x.dtype))  # (B, H, T, hd) (T = 1 with last_only)
        if last_only:
            x = x[:, -1:]  # (B, 1, D)
        y = merge_heads(out) * F.silu(self.gate(x))
        return self.drop(self.proj(y)), [s, past]
