"""Luna (Ma et al. 2021): pack a sequence into l fixed slots with a learned query P, then unpack.

The causal decoder variant and the encoder's memory pack both live here.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from config import ModelConfig
from layers import Mixer, StateSpec, causal_mask, elu1, fp32_core, heads, merge_heads, steps


@fp32_core
def luna_chunk(q, kp, vk, vv, pq, acc_k, acc_v, pos):
    """Causal Luna over one chunk.

    Pack weights a[s, j] = elu(P_s . k_j / sqrt(d)) + 1 (positive, so they can be summed causally);
    packed keys/values at step t are running means (1/t) sum_{j<=t} a[s, j] vk_j (and vv_j); the unpack
    is a softmax over the l slots. q, kp, vk, vv (B, H, T, hd); pq (1, H, l, hd); acc_k/acc_v (B, H, l, hd)
    hold the sums before this chunk; pos (1,) tokens before it.
    """
    t, hd = q.shape[2], q.shape[-1]
    mask = causal_mask(t, q).to(q.dtype)  # (T, T)
    a = elu1(pq @ kp.transpose(-1, -2) / math.sqrt(hd))  # (B, H, l, T)
    count = (pos + 1 + steps(t, q)).to(q.dtype)[:, None]  # (T, 1) tokens seen at each position
    inter = q @ acc_k.transpose(-1, -2)  # (B, H, T, l)
    intra = ((q @ vk.transpose(-1, -2)) * mask) @ a.transpose(-1, -2)  # (B, H, T, l)
    p = torch.softmax((inter + intra) / count / math.sqrt(hd), dim=-1)  # (B, H, T, l)
    out = (p @ acc_v + ((p @ a) * mask) @ vv) / count  # (B, H, T, hd)
    return out, acc_k + a @ vk, acc_v + a @ vv


class LunaAttention(Mixer):
    """`luna`: causal Luna with a static learned P of l slots per layer; state = two accumulators
    (packed keys, packed values) and the step counter (the model-wide position)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head, self.hd, self.slots = cfg.n_head, cfg.head_dim, cfg.luna_slots
        self.p = nn.Parameter(torch.randn(cfg.luna_slots, d) * 0.02)  # (l, D)
        self.pack_q = nn.Linear(d, d, bias=False)
        self.proj_in = nn.Linear(d, 4 * d, bias=False)  # unpack query, pack key, packed key value, packed value
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.train_chunk = cfg.chunk_size

    def state_spec(self):
        shape = (self.n_head, self.slots, self.hd)
        return [StateSpec("acc_k", shape), StateSpec("acc_v", shape)]

    def step(self, x, state, pos):
        q, kp, vk, vv = (heads(t, self.n_head) for t in self.proj_in(x).chunk(4, dim=-1))  # (B, H, T, hd)
        pq = heads(self.pack_q(self.p)[None], self.n_head)  # (1, H, l, hd)
        out, acc_k, acc_v = luna_chunk(q, kp, vk, vv, pq, state[0], state[1], pos)
        return self.drop(self.proj(merge_heads(out.to(x.dtype)))), [acc_k, acc_v]


class LunaPack(nn.Module):
    """Packs a whole (bidirectional) sequence into l memory slots: softmax attention from learned P."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.p = nn.Parameter(torch.randn(cfg.mem_slots, d) * 0.02)  # (l, D)
        self.q = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 2 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.residual = cfg.pack_residual

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        q = heads(self.q(self.p)[None], self.n_head)  # (1, H, l, hd)
        k, v = (heads(t, self.n_head) for t in self.kv(h).chunk(2, dim=-1))  # (B, H, N, hd)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(k.shape[-1]), dim=-1)  # (B, H, l, N)
        packed = self.proj(merge_heads(att @ v))  # (B, l, D)
        return self.norm(self.p + packed if self.residual else packed)
