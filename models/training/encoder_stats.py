"""Does the encoder's memory carry the file? Diagnostics of a shipped model on validation windows, for the card.

    python encoder_stats.py --model ../linea-deltanet [--corpus ~/.cache/linea/corpus] [--update-manifest]

- spread: how much the memory differs between windows (std across the batch / mean |memory|), for the
  packed slots and the suffix slots apart; a memory that ignores its input has spread 0.
- gradient: |grad| / |weights| of the encoder (encoder blocks and pack) against the decoder blocks', on the
  training loss (FIM middle spans read the memory); ~1e-5 of the decoder's meant the encoder learned nothing.
- fusion: the share of the fusion's attention on the suffix slots, its entropy as a fraction of the
  uniform one (1.0 = it attends to every slot alike, so it cannot pick a slot), and how far the fusion's
  output moves when the file's memory replaces the null memory, relative to the hidden state it adds to.
The middle-span bits/byte with and without the memory come from evaluate.py.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import data
from model import LineaModel
from tokenizer import LANGUAGE_HEADER, CodeTokenizer
from train import Batches, TrainConfig, fim_loss, fim_split


def _grad_ratio(model: LineaModel, prefixes: tuple[str, ...]) -> float:
    g = w = 0.0
    for name, p in model.named_parameters():
        if name.startswith(prefixes) and p.grad is not None:
            g += float(p.grad.norm() ** 2)
            w += float(p.norm() ** 2)
    return math.sqrt(g) / max(math.sqrt(w), 1e-12)


def encoder_stats(model: LineaModel, x: torch.Tensor, ctx: torch.Tensor, scored: torch.Tensor) -> dict:
    """x (B, T+1) windows, ctx (B, N) their encoder input with <hole>, scored (T,) the middle's targets."""
    cfg, l = model.cfg, model.cfg.mem_slots
    model.eval()
    with torch.no_grad():
        full = model.encode(ctx)  # (B, l + S + R, D)
        mem = full[:, : cfg.fusion_slots]  # (B, l + S, D): what the fusion reads
        null = model.null_memory(model.hole_id, x.shape[0])[:, : cfg.fusion_slots]  # (B, l + S, D)
        spread = mem.std(0).mean(-1) / mem.abs().mean((0, 2)).clamp_min(1e-12)  # (l + S,)
        ids = x[:, :-1]  # (B, T)
        h, _ = model.trunk(ids, model.init_state(ids.shape[0]), torch.zeros(1, dtype=torch.long))  # (B, T, D)
        fb = model.fusion[0]
        out_mem, att = fb.attend(h, mem)  # (B, T, D), (B, H, T, l + S)
        out_null, _ = fb.attend(h, null)
        mid = scored.nonzero()[:, 0]  # positions that read the file's memory in training
        att_mid = att[:, :, mid]  # (B, H, M, l + S)
        entropy = -(att_mid * att_mid.clamp_min(1e-12).log()).sum(-1).mean()
        moved = (out_mem - out_null)[:, mid].norm(dim=-1).mean() / h[:, mid].norm(dim=-1).mean()
    model.train()
    model.zero_grad()
    fim_loss(model, x, ctx, scored, model.hole_id).backward()
    decoder = _grad_ratio(model, ("blocks.",))
    out = {"memory_spread_packed": float(spread[:l].mean()),
           "encoder_grad_vs_decoder": _grad_ratio(model, ("enc_blocks.", "pack.")) / decoder,
           "fusion_grad_vs_decoder": _grad_ratio(model, ("fusion.",)) / decoder,
           "fusion_attention_entropy": float(entropy / math.log(att.shape[-1])),
           "fusion_output_moved": float(moved)}
    if cfg.suffix_slots:
        out["memory_spread_suffix"] = float(spread[l:].mean())
        out["fusion_attention_on_suffix"] = float(att_mid[..., l:].sum(-1).mean())
    if cfg.copy_slots:
        with torch.no_grad():
            fused = model.fuse(h, full)  # (B, T, D)
            plain = model.project(fused)[:, mid]  # (B, M, V)
            copied = model.project(fused, full)[:, mid]  # (B, M, V)
            tgt = x[:, 1:][:, mid]  # (B, M)
            nll = lambda lg: F.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1))  # noqa: E731
            table = full[:, cfg.fusion_slots :].reshape(x.shape[0], -1)  # (B, R*D): bonus weight per id
            in_suffix = torch.gather(table, 1, tgt) > 0  # (B, M)
        # how often the middle's next token is among the suffix's, and what the path saves on the middle
        out["copy_targets_in_suffix"] = float(in_suffix.float().mean())
        out["copy_loss_saved"] = float(1 - nll(copied) / nll(plain))
    model.zero_grad()
    model.eval()
    return {k: round(v, 6) for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=Path("~/.cache/linea/corpus").expanduser())
    ap.add_argument("--windows", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--update-manifest", action="store_true")
    args = ap.parse_args(argv)
    from shipped import load_shipped

    torch.manual_seed(args.seed)
    model, manifest = load_shipped(args.model)
    if not model.cfg.has_encoder:
        print(f"{args.model}: no encoder", file=sys.stderr)
        return 2
    tok_path = args.model / manifest["tokenizer"]["file"]
    tok = CodeTokenizer(tok_path)
    folder = data.prepare(args.corpus, tok_path, splits=("val",))
    tokens, docs = data.load(folder, "val")
    if manifest.get("languageHeader"):
        tokens = data.with_headers(tokens, docs, tok, LANGUAGE_HEADER)
    x = Batches(tokens, 256, args.windows, args.seed).next()  # (B, T+1)
    ctx, scored = fim_split(x, TrainConfig(), tok.hole, np.random.default_rng(args.seed))
    stats = encoder_stats(model, x, ctx, scored)
    print(json.dumps(stats, indent=2))
    if args.update_manifest:
        path = args.model / "manifest.json"
        man = json.loads(path.read_text())
        man["metrics"]["encoder"] = stats
        path.write_text(json.dumps(man, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
