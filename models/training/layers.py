"""Small building blocks shared by the attention variants.

Everything here must export to ONNX ops that onnxruntime-web runs on WASM and WebGPU: masks are
built from comparisons of Range outputs (no Trilu, no CumSum), softplus is spelled out.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = -1e9  # additive mask value; finite so exp() and softmax never see inf - inf


def softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + exp(x)) without overflow; ONNX Softplus falls back to the CPU on the WebGPU provider.
    return torch.relu(x) + torch.log(1.0 + torch.exp(-torch.abs(x)))


def elu1(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1, the feature map of Katharopoulos et al. 2020 (always > 0)."""
    return F.elu(x) + 1.0


def steps(n: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """arange(n) as int64 on like's device; n may be a traced size so ONNX keeps it dynamic."""
    return torch.arange(n, device=like.device, dtype=torch.long)


def causal_mask(t: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(T, T) bool, True where key j <= query i; a comparison, not tril (no Trilu on JSEP)."""
    i = steps(t, like)
    return i[:, None] >= i[None, :]


def heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.view(b, t, n_head, d // n_head).transpose(1, 2)  # (B, H, T, hd)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)  # (B, T, D)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of x (B, H, T, hd) at absolute positions (T,)."""
    hd = x.shape[-1]
    inv = 1.0 / (base ** (torch.arange(0, hd, 2, device=x.device, dtype=torch.float32) / hd))  # (hd/2,)
    ang = positions.to(torch.float32)[:, None] * inv[None, :]  # (T, hd/2)
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (B, H, T, hd/2)
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (B, H, T, hd/2, 2)
    return out.flatten(-2)


class ShortConv(nn.Module):
    """Causal depthwise convolution of width k over time, with SiLU; its state is the last k-1 inputs.

    Written as a sum of shifted products (no Conv op) so the T = 1 step and a chunk share one graph.
    """

    def __init__(self, channels: int, k: int):
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.randn(channels, k) / k**0.5)  # (C, k), last tap = current input
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x (B, T, C); past (B, k-1, C): the inputs before this chunk, oldest first
        t = x.shape[1]
        full = torch.cat([past, x], dim=1)  # (B, k-1+T, C)
        y = self.bias
        for i in range(self.k):
            y = y + full[:, i : i + t] * self.weight[:, i]  # (B, T, C)
        return F.silu(y), full[:, t:]  # new past: the last k-1 inputs


class FFN(nn.Module):
    def __init__(self, d: int, mult: int, dropout: float):
        super().__init__()
        self.up = nn.Linear(d, mult * d)
        self.down = nn.Linear(mult * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down(F.gelu(self.up(x))))


class StateSpec:
    """One per-layer state tensor: its name, shape without the batch dim (None = grows with context)."""

    def __init__(self, name: str, shape: tuple, dtype: str = "float32"):
        self.name, self.shape, self.dtype = name, shape, dtype

    def __repr__(self) -> str:
        return f"StateSpec({self.name!r}, {self.shape}, {self.dtype})"


class Mixer(nn.Module):
    """A token mixer with explicit recurrent state.

    step() runs one chunk of any length T <= max_chunk given the state before it and returns the state
    after it; forward() runs a whole training sequence as a loop of chunks. The exported ONNX graph is
    step() alone, so training and inference share every line of the maths.
    """

    train_chunk: int | None = None  # None: the whole sequence is one chunk

    def state_spec(self) -> list[StateSpec]:
        raise NotImplementedError

    def init_state(self, batch: int, device: torch.device) -> list[torch.Tensor]:
        return [
            torch.zeros((batch,) + tuple(0 if s is None else s for s in spec.shape), device=device)
            for spec in self.state_spec()
        ]

    def step(self, x: torch.Tensor, state: list[torch.Tensor], pos: torch.Tensor):
        raise NotImplementedError

    def step_last(self, x: torch.Tensor, state: list[torch.Tensor], pos: torch.Tensor):
        """step's output at the last position only (B, 1, D), and the state after all of x; a mixer whose
        outputs cost more than its state update computes only that one."""
        y, state = self.step(x, state, pos)
        return y[:, -1:], state

    def forward(self, x: torch.Tensor, state: list[torch.Tensor], pos: torch.Tensor, last_only: bool = False):
        """x (B, T, D) -> output (B, T, D) ((B, 1, D) with last_only), the state after x."""
        c, t = self.train_chunk, x.shape[1]
        if c is None or t <= c:
            return self.step_last(x, state, pos) if last_only else self.step(x, state, pos)
        ys = []
        for s in range(0, t, c):
            y, state = self.step(x[:, s : s + c], state, pos + s)
            ys.append(y)
        return (ys[-1][:, -1:] if last_only else torch.cat(ys, dim=1)), state


def fp32_core(fn):
    """Runs an attention core in fp32 even under bf16 autocast: the recurrent sums must not round."""

    def wrapped(*args):
        dev = next(a for a in args if isinstance(a, torch.Tensor)).device.type
        with torch.autocast(device_type=dev, enabled=False):
            return fn(*[a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args])

    return wrapped
