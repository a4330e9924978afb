"""Softmax-based decoders: the full-cache baseline, the Sparse Transformer's fixed pattern, and the
hybrid of a sliding softmax window with a decayed linear branch.

Keys are cached with RoPE already applied, so a chunk never re-rotates the past.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from attention_linear import linear_chunk
from config import ModelConfig
from layers import NEG, Mixer, StateSpec, elu1, fp32_core, heads, merge_heads, rope, steps


@fp32_core
def masked_softmax_attention(q, k, v, mask):
    """q (B, H, T, hd), k/v (B, H, S, hd), mask (T, S) bool -> (B, H, T, hd)."""
    att = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # (B, H, T, S)
    att = att.masked_fill(~mask, NEG)
    return torch.softmax(att, dim=-1) @ v


class SoftmaxAttention(Mixer):
    """`softmax`: causal softmax attention with RoPE; the state is the whole KV cache, growing with context."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head, self.hd, self.base = cfg.n_head, cfg.head_dim, cfg.rope_base
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)

    def state_spec(self):
        return [StateSpec("k", (self.n_head, None, self.hd)), StateSpec("v", (self.n_head, None, self.hd))]

    def step(self, x, state, pos):
        q, k, v = (heads(t, self.n_head) for t in self.qkv(x).chunk(3, dim=-1))  # (B, H, T, hd)
        past = state[0].shape[2]
        t = x.shape[1]
        qpos = past + steps(t, x)  # (T,)
        q, k = rope(q, qpos, self.base), rope(k, qpos, self.base)
        keys, vals = torch.cat([state[0], k], dim=2), torch.cat([state[1], v], dim=2)  # (B, H, P+T, hd)
        mask = steps(keys.shape[2], x)[None, :] <= qpos[:, None]  # (T, P+T)
        out = masked_softmax_attention(q, keys, vals, mask).to(x.dtype)
        return self.drop(self.proj(merge_heads(out))), [keys, vals]


class SparseAttention(Mixer):
    """`sparse`: causal factorised attention, the "fixed" pattern of Child et al. 2019.

    A query sees its own block of b positions (causally) and the last c positions of every earlier block
    (the summary columns). The state holds exactly what later queries can still see: the summary keys of
    the finished blocks (grows by c every b tokens) and the unfinished block (fewer than b entries).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head, self.hd, self.base = cfg.n_head, cfg.head_dim, cfg.rope_base
        self.block, self.summary = cfg.sparse_block, cfg.sparse_summary
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)

    def state_spec(self):
        h, hd = self.n_head, self.hd
        return [StateSpec(n, (h, None, hd)) for n in ("sum_k", "sum_v", "blk_k", "blk_v")]

    def step(self, x, state, pos):
        sum_k, sum_v, blk_k, blk_v = state
        b, c = self.block, self.summary
        q, k, v = (heads(t, self.n_head) for t in self.qkv(x).chunk(3, dim=-1))  # (B, H, T, hd)
        t, m = x.shape[1], blk_k.shape[2]
        start = sum_k.shape[2] // c * b  # absolute position of the unfinished block's first token
        xpos = start + steps(m + t, x)  # (m+T,) positions of [unfinished block, this chunk]
        qpos = xpos[m:]  # (T,)
        q, k = rope(q, qpos, self.base), rope(k, qpos, self.base)
        xk, xv = torch.cat([blk_k, k], dim=2), torch.cat([blk_v, v], dim=2)  # (B, H, m+T, hd)
        same_block = (xpos[None, :] // b) == (qpos[:, None] // b)
        is_summary = (xpos % b) >= (b - c)
        mask_x = (xpos[None, :] <= qpos[:, None]) & (same_block | is_summary[None, :])  # (T, m+T)
        mask_sum = torch.ones_like(mask_x[:, :1]).expand(t, sum_k.shape[2])  # finished blocks' summaries
        mask = torch.cat([mask_sum, mask_x], dim=1)  # (T, Ns+m+T)
        out = masked_softmax_attention(q, torch.cat([sum_k, xk], 2), torch.cat([sum_v, xv], 2), mask)
        # Carry the summary columns of the blocks this chunk finished, and the new unfinished block.
        nb = xk.shape[2] // b
        bsz, h, hd = xk.shape[0], self.n_head, self.hd

        def split(z):
            done = z[:, :, : nb * b].reshape(bsz, h, nb, b, hd)[:, :, :, b - c :].reshape(bsz, h, nb * c, hd)
            return done, z[:, :, nb * b :]

        (dk, rest_k), (dv, rest_v) = split(xk), split(xv)
        new = [torch.cat([sum_k, dk], 2), torch.cat([sum_v, dv], 2), rest_k, rest_v]
        return self.drop(self.proj(merge_heads(out.to(x.dtype)))), new


class HybridAttention(Mixer):
    """`hybrid`: half the heads are sliding-window softmax (window w, RoPE; keys/values in a fixed ring of
    w entries), half decayed linear attention (as `decay`, no conv) — the "Based" recipe of exact local
    recall plus a cheap global summary, both with fixed-size state.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, h = cfg.d_model, cfg.n_head
        self.n_head, self.hd, self.base, self.w, self.eps = h, cfg.head_dim, cfg.rope_base, cfg.window, cfg.eps
        self.hs = h // 2  # window heads; the rest are linear heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)
        hl = h - self.hs
        exps = 5 + torch.arange(hl, dtype=torch.float32) * (7.0 / max(hl - 1, 1))
        self.register_buffer("log_gamma", torch.log1p(-(2.0**-exps)), persistent=False)
        self.train_chunk = cfg.chunk_size

    def state_spec(self):
        hs, hl, hd = self.hs, self.n_head - self.hs, self.hd
        return [
            StateSpec("win_k", (hs, self.w, hd)),
            StateSpec("win_v", (hs, self.w, hd)),
            StateSpec("S", (hl, hd, hd)),
            StateSpec("Z", (hl, hd)),
        ]

    def step(self, x, state, pos):
        win_k, win_v, s, z = state
        q, k, v = (heads(t, self.n_head) for t in self.qkv(x).chunk(3, dim=-1))  # (B, H, T, hd)
        t, hs, w = x.shape[1], self.hs, self.w
        qpos = pos + steps(t, x)  # (T,)
        qs, ks = rope(q[:, :hs], qpos, self.base), rope(k[:, :hs], qpos, self.base)
        keys, vals = torch.cat([win_k, ks], 2), torch.cat([win_v, v[:, :hs]], 2)  # (B, hs, w+T, hd)
        kpos = pos - w + steps(w + t, x)  # (w+T,) the ring holds the w positions before this chunk
        mask = (kpos[None, :] <= qpos[:, None]) & (kpos[None, :] > qpos[:, None] - w) & (kpos[None, :] >= 0)
        out_s = masked_softmax_attention(qs, keys, vals, mask)  # (B, hs, T, hd)
        out_l, s, z = linear_chunk(elu1(q[:, hs:]), elu1(k[:, hs:]), v[:, hs:], s, z, self.log_gamma, self.eps)
        out = torch.cat([out_s, out_l], dim=1).to(x.dtype)  # (B, H, T, hd)
        new = [keys[:, :, t:], vals[:, :, t:], s, z]  # the ring keeps the last w keys/values
        return self.drop(self.proj(merge_heads(out))), new
