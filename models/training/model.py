"""The Linea model: a recurrent decoder (one attention variant), a sparse whole-file encoder packed into
l memory slots, and late fusion blocks that read the memory after the recurrent blocks.

Why late fusion: the decoder state at the cursor depends on the prefix alone, so an edit after the cursor
changes only the memory (O(l d) per token to use), never the stored prefix state.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from attention_linear import GatedDeltaNet, LinearAttention
from attention_softmax import SoftmaxAttention, SparseAttention, HybridAttention, masked_softmax_attention
from config import ModelConfig
from layers import FFN, Mixer, StateSpec, heads, merge_heads, rope, softplus, steps
from luna import LunaAttention, LunaPack


def make_mixer(cfg: ModelConfig) -> Mixer:
    return {
        "linear": lambda: LinearAttention(cfg, decayed=False),
        "decay": lambda: LinearAttention(cfg, decayed=True),
        "deltanet": lambda: GatedDeltaNet(cfg),
        "hybrid": lambda: HybridAttention(cfg),
        "softmax": lambda: SoftmaxAttention(cfg),
        "luna": lambda: LunaAttention(cfg),
        "sparse": lambda: SparseAttention(cfg),
    }[cfg.variant]()


class DecoderBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.mixer = make_mixer(cfg)
        self.ffn = FFN(cfg.d_model, cfg.ffn_mult, cfg.dropout)

    def forward(self, x, state, pos, last_only: bool = False):
        """With last_only, the output (B, 1, D) is the last position's: the state still reads every position."""
        y, state = self.mixer(self.ln1(x), state, pos, last_only)
        x = (x[:, -1:] if last_only else x) + y
        return x + self.ffn(self.ln2(x)), state


class EncoderBlock(nn.Module):
    """Bidirectional sparse attention, fixed pattern: each query sees its own block of b tokens and the
    last c tokens (summary columns) of every block, earlier or later."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head, self.base, self.block, self.summary = cfg.n_head, cfg.rope_base, cfg.enc_block, cfg.enc_summary
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.ffn = FFN(d, cfg.ffn_mult, cfg.dropout)

    def forward(self, x):
        q, k, v = (heads(t, self.n_head) for t in self.qkv(self.ln1(x)).chunk(3, dim=-1))  # (B, H, N, hd)
        pos = steps(x.shape[1], x)  # (N,)
        q, k = rope(q, pos, self.base), rope(k, pos, self.base)
        b, c = self.block, self.summary
        mask = ((pos[:, None] // b) == (pos[None, :] // b)) | ((pos[None, :] % b) >= b - c)  # (N, N)
        x = x + self.proj(merge_heads(masked_softmax_attention(q, k, v, mask).to(x.dtype)))
        return x + self.ffn(self.ln2(x))


class FusionBlock(nn.Module):
    """Cross-attention from the decoder's hidden states to the l memory slots, then an FFN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 2 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.ffn = FFN(d, cfg.ffn_mult, cfg.dropout)

    def attend(self, x, memory):
        """The cross-attention's contribution to x (B, T, D) and its weights (B, H, T, l) over the slots."""
        q = heads(self.q(self.ln1(x)), self.n_head)  # (B, H, T, hd)
        k, v = (heads(t, self.n_head) for t in self.kv(memory).chunk(2, dim=-1))  # (B, H, l, hd)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)  # (B, H, T, l)
        return self.proj(merge_heads(att @ v)), att

    def forward(self, x, memory):
        x = x + self.attend(x, memory)[0]
        return x + self.ffn(self.ln2(x))


class LineaModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.register_buffer("head_bias", torch.zeros(cfg.vocab_size), persistent=False)
        if cfg.has_encoder:
            self.enc_blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.enc_layers))
            self.enc_ln = nn.LayerNorm(cfg.d_model)
            self.pack = LunaPack(cfg)
            self.fusion = nn.ModuleList(FusionBlock(cfg) for _ in range(cfg.n_fusion))
            if cfg.suffix_slots:
                # a learned offset per suffix slot (which token after the cursor), and the row that stands
                # for a slot past the end of the file (also all of the null memory's suffix slots)
                self.suffix_pos = nn.Parameter(torch.randn(cfg.suffix_slots, cfg.d_model) * 0.02)  # (S, D)
                self.suffix_none = nn.Parameter(torch.randn(cfg.suffix_slots, cfg.d_model) * 0.02)  # (S, D)
        self.recompute = False  # activation checkpointing per block (Sparse Transformer, sec. 5.4)
        self.export_t: int | None = None  # set while exporting a fixed-length decoder graph
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 scaled init of the residual projections
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))
        if cfg.has_encoder and cfg.copy_slots:
            # Starts as the measured constant: every distinct suffix token +1.5 (w ~ 1), then learns where
            # after the cursor (pos), which tokens (key on the encoder's state) and when (gate on h) to copy.
            self.copy_key = nn.Linear(cfg.d_model, 1)
            self.copy_pos = nn.Parameter(torch.full((cfg.copy_slots,), 4.0))  # (C,)
            self.copy_gate = nn.Linear(cfg.d_model, 1)
            with torch.no_grad():
                for lin in (self.copy_key, self.copy_gate):
                    lin.weight.zero_()
                self.copy_key.bias.zero_()
                self.copy_gate.bias.fill_(math.log(math.expm1(1.5)))  # softplus^-1(1.5)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- state -------------------------------------------------------------------------------
    def state_spec(self) -> list[StateSpec]:
        """Flat list over layers, named l{i}.{name}: the decoder graph's state inputs, in order."""
        return [StateSpec(f"l{i}.{s.name}", s.shape, s.dtype) for i, b in enumerate(self.blocks) for s in b.mixer.state_spec()]

    def init_state(self, batch: int = 1, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        return [t for b in self.blocks for t in b.mixer.init_state(batch, torch.device(device))]

    def _split_state(self, state: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        out, i = [], 0
        for b in self.blocks:
            n = len(b.mixer.state_spec())
            out.append(list(state[i : i + n]))
            i += n
        if i != len(state):
            raise ValueError(f"state has {len(state)} tensors, the model expects {i}")
        return out

    # ---- decoder -----------------------------------------------------------------------------
    def trunk(self, ids: torch.Tensor, state: list[torch.Tensor], pos: torch.Tensor, last_only: bool = False):
        """Recurrent blocks only: ids (B, T) -> hidden (B, T, D) ((B, 1, D) with last_only), the state after them.

        With last_only the last block computes its output at the last position only: nothing reads its
        other positions, and skipping them saves a fifth of a long read (its FFN, output projections and,
        for deltanet, the outputs of the attention core)."""
        x = self.drop(self.wte(ids))  # (B, T, D)
        new_state = []
        for i, (block, s) in enumerate(zip(self.blocks, self._split_state(state))):
            if self.recompute and self.training:
                x, s = checkpoint(block, x, s, pos, use_reentrant=False)
            else:
                x, s = block(x, s, pos, last_only and i == len(self.blocks) - 1)
            new_state += s
        return x, new_state

    def fuse(self, h: torch.Tensor, memory: torch.Tensor | None) -> torch.Tensor:
        """Late fusion: the fusion blocks read the memory after the recurrent blocks."""
        if self.cfg.has_encoder:
            if memory is None:
                raise ValueError("this model has an encoder: pass a memory (null_memory() when there is no file context)")
            slots = memory[:, : self.cfg.fusion_slots]  # (B, l + S, D): the copy table is not attended to
            for fb in self.fusion:
                h = fb(h, slots)
        return h

    def project(self, h: torch.Tensor, memory: torch.Tensor | None = None, copy_at: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V) of the fused hidden states, plus the copy path when the model has one and a
        memory is given (only at the positions copy_at (T,) marks, when given)."""
        # 2-D with a (zero) bias so the export is Gemm(transB=1) on the embedding itself, not a MatMul on a
        # folded transposed copy that would store the largest tensor twice
        b, t, d = h.shape
        x = self.ln_f(h).reshape(b * t, d)  # (B*T, D)
        logits = F.linear(x, self.wte.weight, self.head_bias).view(b, t, -1)  # (B, T, V), tied
        if memory is None or not self.cfg.copy_slots:
            return logits
        table = memory[:, self.cfg.fusion_slots :].reshape(b, 1, -1)[:, :, : logits.shape[-1]]  # (B, 1, V)
        beta = softplus(self.copy_gate(x)).view(b, t, 1)  # (B, T, 1)
        if copy_at is not None:
            beta = beta * copy_at.to(beta.dtype)[None, :, None]
        return logits + beta * table.to(logits.dtype)  # (B, T, V)

    def head(self, h: torch.Tensor, memory: torch.Tensor | None) -> torch.Tensor:
        return self.project(self.fuse(h, memory), memory)

    def forward(self, ids, state=None, pos=None, memory=None, last_only: bool = False):
        """ids (B, T) -> logits (B, T, V) (or (B, V) with last_only), new state, new pos."""
        if state is None:
            state = self.init_state(ids.shape[0], ids.device)
        if pos is None:
            pos = torch.zeros(1, dtype=torch.long, device=ids.device)
        t = (self.export_t or 0) if torch.jit.is_tracing() else ids.shape[1]  # 0: a graph of any length
        h, state = self.trunk(ids, state, pos, last_only and t != 1)  # (B, 1, D) with last_only (or T = 1)
        logits = self.head(h, memory)
        return (logits[:, -1] if last_only else logits), state, pos + ids.shape[1]

    # ---- encoder -----------------------------------------------------------------------------
    @property
    def hole_id(self) -> int:
        """<hole>: the special tokens follow the BPE vocabulary as eos, hole, pad (tokenizer.py)."""
        return self.cfg.vocab_size - 2

    def encode(self, ctx: torch.Tensor) -> torch.Tensor:
        """File context ids (B, N) with the hidden span replaced by <hole> -> memory (B, l + S, D)."""
        x = self.wte(ctx)  # (B, N, D)
        for blk in self.enc_blocks:
            x = checkpoint(blk, x, use_reentrant=False) if self.recompute and self.training else blk(x)
        x = self.enc_ln(x)  # (B, N, D)
        parts = [self.pack(x)]  # (B, l, D)
        s, c = self.cfg.suffix_slots, self.cfg.copy_slots
        if s:
            idx, inside = self._after_hole(ctx, s)  # (B, S)
            rows = self._rows(x, idx)  # (B, S, D)
            parts.append(torch.where(inside[:, :, None], rows + self.suffix_pos, self.suffix_none.expand_as(rows)))  # (B, S, D)
        if c:
            parts.append(self._copy_table(ctx, x))  # (B, R, D)
        return torch.cat(parts, dim=1)  # (B, l + S + R, D)

    def _after_hole(self, ctx: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices (B, k) of the k positions after the first <hole> (past the end: the last position), and
        which of them are inside the context."""
        n = torch.ones_like(ctx[:1]).sum(1, keepdim=True)  # (1, 1) N as a tensor: a traced graph keeps N dynamic
        hole_at = (ctx == self.hole_id).float().argmax(dim=1)  # (B,) the first <hole>
        at = hole_at[:, None] + 1 + torch.arange(k, device=ctx.device)[None, :]  # (B, k)
        return torch.minimum(at, n - 1), at < n

    @staticmethod
    def _rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """x (B, N, D) at idx (B, k) -> (B, k, D)."""
        return torch.gather(x, 1, idx[:, :, None].expand(-1, -1, x.shape[-1]))

    def _copy_table(self, ctx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The copy path's bonus table (B, R, D): for each vocabulary id, its largest weight among the C
        tokens after <hole> (0 for an id not there), so a token that comes back often counts once."""
        c, v = self.cfg.copy_slots, self.cfg.vocab_size
        idx, inside = self._after_hole(ctx, c)  # (B, C)
        ids, states = torch.gather(ctx, 1, idx), self._rows(x, idx)  # (B, C), (B, C, D)
        w = torch.sigmoid(self.copy_key(states).squeeze(-1) + self.copy_pos) * inside.to(states.dtype)  # (B, C)
        # a one-hot product rather than a scatter: plain float ops that every provider runs
        hot = ids[:, :, None] == torch.arange(v, device=ctx.device)[None, None, :]  # (B, C, V)
        table = (w.float()[:, :, None] * hot.float()).amax(dim=1)  # (B, V)
        table = F.pad(table, (0, self.cfg.copy_rows * self.cfg.d_model - v))  # (B, R*D)
        return table.view(x.shape[0], self.cfg.copy_rows, self.cfg.d_model)  # (B, R, D)

    def null_memory(self, hole_id: int, batch: int = 1) -> torch.Tensor:
        """The memory when no file context is known: the encoding of a lone <hole>."""
        ids = torch.full((1, 1), hole_id, dtype=torch.long, device=self.wte.weight.device)
        return self.encode(ids).expand(batch, -1, -1)
