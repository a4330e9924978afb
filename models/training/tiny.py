"""Tiny models for tests and golden fixtures: small, random, at unit weight scale so logits are O(1)."""
from __future__ import annotations

import torch

from config import ModelConfig
from model import LineaModel


def tiny_config(variant: str, **kw) -> ModelConfig:
    """Covers every path: several sparse blocks, a full hybrid window, many training chunks."""
    base = dict(
        variant=variant, vocab_size=67, n_layer=2, n_head=4, d_model=32, chunk_size=16, max_chunk=256,
        luna_slots=4, sparse_block=16, sparse_summary=4, window=12, enc_layers=1, enc_block=8, enc_summary=2,
        mem_slots=4, conv_size=4, max_encoder_tokens=256,
    )
    base.update(kw)
    return ModelConfig(**base)


def tiny_model(variant: str, seed: int = 0, **kw) -> LineaModel:
    torch.manual_seed(seed)
    model = LineaModel(tiny_config(variant, **kw))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "wte" in name:
                p.normal_(0.0, 1.0)
            elif p.dim() >= 2:
                p.normal_(0.0, 1.0 / p.shape[-1] ** 0.5)
    return model.eval()
