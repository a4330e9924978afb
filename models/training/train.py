"""Trains a Linea model. The same file runs on a 2-core CPU and on a CUDA GPU (bf16 autocast, fp32 state).

    python train.py --model=configs/cpu-small.json --out=~/.cache/linea/runs/linear [--key=value ...]
    python train.py --model=configs/cpu-small.json --variant=deltanet --init_from=models/linea-deltanet \
        --schedule=wsd --out=~/.cache/linea/runs/deltanet-2   (continue the shipped default)

Model keys (ModelConfig) and training keys (TrainConfig) can both be overridden with --key=value; an
unknown key is an error. Checkpoints go to --out (outside the repo); a run resumes from its checkpoint.

FIM-style training of the encoder: in every batch a middle span [a, b) of the window is hidden from
the encoder (it sees x[:a] <hole> x[b:]). Targets inside the span are predicted with that memory; all other
targets with the null memory (the encoding of a lone <hole>), so the encoder never sees a token it is
scored on, and the model also learns to complete before any encoding is ready.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import data
from config import ModelConfig, from_dict, load_json
from model import LineaModel
from tokenizer import LANGUAGE_HEADER, CodeTokenizer


@dataclass
class TrainConfig:
    corpus: str = "~/.cache/linea/corpus"  # folder with train/val/test .jsonl.xz splits
    tokenizer: str = "models/tokenizer.json"  # tokenizer.json to train with
    seq_len: int = 256  # T: training window
    batch_size: int = 16  # sequences per optimizer step
    lr: float = 1e-3  # peak learning rate (AdamW)
    min_lr: float = 1e-4  # floor of the cosine, or the end of the WSD decay
    schedule: str = "cosine"  # cosine | wsd (warmup-stable-decay: any stopping point can be decayed briefly)
    decay_frac: float = 0.2  # wsd: the last fraction of the steps decays linearly to min_lr
    init_from: str = ""  # a shipped model folder (manifest.json + weights.bin) to start from; the optimizer starts fresh
    memory_lr_mult: float = 1.0  # learning rate multiplier of the encoder, pack, suffix slots and fusion
    train_only: str = ""  # comma-separated parameter-name prefixes (e.g. "copy_"): only these learn, the rest is frozen
    fusion_redraw_std: float = 0.0  # > 0: redraw the fusion's query and key maps at this std when starting from init_from
    warmup_iters: int = 100  # linear warm-up steps
    weight_decay: float = 0.1  # AdamW decay on matrices (not norms, biases, embeddings)
    beta2: float = 0.99  # AdamW beta2: nanoGPT's small-data value
    grad_clip: float = 1.0  # global grad-norm clip (0 disables)
    max_tokens: int = 2_000_000  # training tokens (the budget compared across variants)
    lang_header: bool = False  # start each file with its language header (tokenizer.LANGUAGE_HEADER), as inference does
    max_minutes: float = 0.0  # wall-clock cap; 0 = none (cosine stops early; wsd decays on whichever of steps or time ends first)
    eval_interval: int = 200  # steps between validation and checkpoints
    eval_batches: int = 8  # validation batches per evaluation
    middle_min: float = 0.1  # FIM middle span length as a fraction of seq_len, lower bound
    middle_max: float = 0.5  # and upper bound
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on cuda, fp32 on cpu) | float32 | bfloat16
    compile: bool = False  # torch.compile the model (GPU)
    recompute: bool = False  # activation checkpointing per block (long sequences)
    threads: int = 0  # CPU threads for torch (0 = all cores)
    seed: int = 1337


class Batches:
    """Random windows of seq_len + 1 tokens from a split's token stream (nanoGPT's get_batch)."""

    def __init__(self, tokens: np.ndarray, seq_len: int, batch: int, seed: int):
        if len(tokens) < seq_len + 2:
            raise ValueError(f"split has {len(tokens)} tokens, fewer than one window of {seq_len + 1}")
        self.tokens, self.seq_len, self.batch = tokens, seq_len, batch
        self.rng = np.random.default_rng(seed)

    def next(self) -> torch.Tensor:
        starts = self.rng.integers(0, len(self.tokens) - self.seq_len - 1, self.batch)
        return torch.from_numpy(np.stack([self.tokens[s : s + self.seq_len + 1].astype(np.int64) for s in starts]))  # (B, T+1)


def fim_split(x: torch.Tensor, tc: TrainConfig, hole: int, rng: np.random.Generator):
    """Picks the hidden middle [a, b) of the window (same for the whole batch so shapes stay rectangular).

    Returns the encoder input (B, N) and a (T,) mask of the target positions scored with the memory:
    input position i predicts token i + 1, so targets a..b-1 are positions a-1..b-2.
    """
    t = x.shape[1] - 1
    n = int(rng.integers(max(1, int(tc.middle_min * t)), max(2, int(tc.middle_max * t)) + 1))
    a = int(rng.integers(1, t - n + 2))
    b = a + n
    ctx = torch.cat([x[:, :a], torch.full((x.shape[0], 1), hole, dtype=x.dtype), x[:, b:]], dim=1)  # (B, N)
    scored = torch.zeros(t, dtype=torch.bool)
    scored[a - 1 : b - 1] = True
    return ctx, scored


def fim_loss(model: LineaModel, x: torch.Tensor, ctx: torch.Tensor, scored: torch.Tensor, hole: int, reduction="mean"):
    """Cross-entropy of the decoder: memory-scored positions use the encoder's memory, the rest the null memory."""
    ids, targets = x[:, :-1], x[:, 1:]  # (B, T)
    h, _ = model.trunk(ids, model.init_state(ids.shape[0], ids.device), torch.zeros(1, dtype=torch.long, device=ids.device))
    if model.cfg.has_encoder:
        mem = model.encode(ctx)  # (B, l + S + R, D)
        null = model.null_memory(hole, ids.shape[0])  # (B, l + S + R, D)
        at = scored.to(h.device)
        fused = torch.where(at[None, :, None], model.fuse(h, mem), model.fuse(h, null))  # (B, T, D)
        logits = model.project(fused, mem, copy_at=at)  # the null memory copies nothing
    else:
        logits = model.head(h, None)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)
    return loss if reduction == "mean" else loss.view(targets.shape)


def lr_at(it: int, total: int, tc: TrainConfig, time_frac: float = 0.0) -> float:
    if it < tc.warmup_iters:
        return tc.lr * (it + 1) / tc.warmup_iters
    if tc.schedule == "wsd":
        # Hägele et al. 2024 / MiniCPM: constant after warm-up, then a short linear decay. Progress is the
        # further of steps and wall clock (time_frac = minutes / max_minutes), so a run capped by time still
        # ends decayed: "train for as long as the machine has" gives an exportable model.
        progress = max(it / total, time_frac)
        if progress < 1 - tc.decay_frac:
            return tc.lr
        return tc.min_lr + (tc.lr - tc.min_lr) * max(0.0, 1 - progress) / tc.decay_frac
    frac = min(1.0, (it - tc.warmup_iters) / max(1, total - tc.warmup_iters))
    return tc.min_lr + 0.5 * (1 + math.cos(math.pi * frac)) * (tc.lr - tc.min_lr)


MEMORY_PARAMS = ("enc_blocks.", "enc_ln.", "pack.", "fusion.", "suffix_", "copy_")
# Parameters a grown model may lack in the run it starts from (start_from): they start fresh.
GROWN_PARAMS = {"suffix_slots": {"suffix_pos", "suffix_none"},
                "copy_slots": {"copy_key.weight", "copy_key.bias", "copy_pos", "copy_gate.weight", "copy_gate.bias"}}


def make_optimizer(model: LineaModel, tc: TrainConfig, fused: bool):
    groups = []
    for memory in (False, True):  # the memory's parameters may learn faster (memory_lr_mult)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and n.startswith(MEMORY_PARAMS) == memory]
        decay = [p for n, p in named if p.dim() >= 2 and "wte" not in n]
        other = [p for n, p in named if not (p.dim() >= 2 and "wte" not in n)]
        mult = tc.memory_lr_mult if memory else 1.0
        groups += [{"params": decay, "weight_decay": tc.weight_decay, "lr_mult": mult},
                   {"params": other, "weight_decay": 0.0, "lr_mult": mult}]
    groups = [g for g in groups if g["params"]]
    kwargs = {"fused": True} if fused else {"foreach": True}
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, tc.beta2), **kwargs)


@torch.no_grad()
def evaluate(model, batches: Batches, tc, tok, byte_table, n: int, rng) -> dict:
    """Validation bits per byte overall, and on the middle spans with and without the encoder's memory."""
    model.eval()
    nats = bytes_ = mid_mem = mid_null = mid_bytes = 0.0
    for _ in range(n):
        x = batches.next().to(next(model.parameters()).device)
        ctx, scored = fim_split(x, tc, tok.hole, rng)
        targets = x[:, 1:]
        nb = torch.as_tensor(byte_table, device=x.device)[targets].float()  # (B, T)
        loss = fim_loss(model, x, ctx, scored, tok.hole, reduction="none")  # (B, T)
        nats += float((loss * (nb > 0)).sum())
        bytes_ += float(nb.sum())
        if model.cfg.has_encoder:
            null = fim_loss(model, x, ctx, torch.zeros_like(scored), tok.hole, reduction="none")
            m = scored.to(x.device)[None, :] & (nb > 0)
            mid_mem += float((loss * m).sum())
            mid_null += float((null * m).sum())
            mid_bytes += float((nb * m).sum())
    model.train()
    out = {"val_bpb": nats / math.log(2) / max(bytes_, 1)}
    if mid_bytes:
        out["val_bpb_middle_with_encoder"] = mid_mem / math.log(2) / mid_bytes
        out["val_bpb_middle_without_encoder"] = mid_null / math.log(2) / mid_bytes
    return out


def parse_args(argv: list[str]) -> tuple[ModelConfig, TrainConfig, Path]:
    model_file = out = None
    overrides = []
    for arg in argv:
        if arg.startswith("--model="):
            model_file = arg.split("=", 1)[1]
        elif arg.startswith("--out="):
            out = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
    if out is None:
        raise ValueError("--out=DIR is required (checkpoints and logs; keep it outside the repo)")
    mdict = dataclasses.asdict(load_json(ModelConfig, model_file)) if model_file else dataclasses.asdict(ModelConfig())
    tdict = dataclasses.asdict(TrainConfig())
    for arg in overrides:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"argument {arg!r} should look like --key=value")
        key, raw = arg[2:].split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key in mdict:
            mdict[key] = value
        elif key in tdict:
            tdict[key] = value
        else:
            raise ValueError(f"unknown key --{key}; model keys: {', '.join(mdict)}; training keys: {', '.join(tdict)}")
    return from_dict(ModelConfig, mdict, "model config"), from_dict(TrainConfig, tdict, "training config"), Path(out).expanduser()


def start_from(source: Path, mc: ModelConfig) -> tuple[LineaModel, dict]:
    """The model to continue and the training record behind it ("runs": every earlier run), from a shipped
    folder (manifest.json + weights.bin) or from another run's ckpt.pt (its optimizer is not taken).

    The source may lack only the suffix slots or the copy path that mc adds (suffix_slots, copy_slots
    0 -> n): every other weight is kept, and the new parameters start fresh, so the memory can change shape
    without losing the decoder."""
    if source.suffix == ".pt":
        ckpt = torch.load(source, map_location="cpu")
        model = LineaModel(from_dict(ModelConfig, ckpt["config"], str(source)))
        model.load_state_dict(ckpt["model"])
        before = dict(ckpt.get("train_info", {}))
        before["runs"] = before.get("runs") or [{k: v for k, v in before.items() if k != "runs"}]
    else:
        from shipped import load_shipped

        model, manifest = load_shipped(source)
        before = dict(manifest.get("training", {}))
        before["runs"] = before.get("runs") or [{k: v for k, v in before.items() if k != "runs"} | {"metrics": manifest.get("metrics", {})}]
    if model.cfg == mc:
        return model, before
    added = [k for k in GROWN_PARAMS if getattr(model.cfg, k) != getattr(mc, k)]
    if any(getattr(model.cfg, k) for k in added) or dataclasses.replace(model.cfg, **{k: getattr(mc, k) for k in added}) != mc:
        raise ValueError(f"{source} has another model config than this run's; pass its config (--model=... or keys)")
    grown = LineaModel(mc)
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or set(missing) != set().union(*(GROWN_PARAMS[k] for k in added)):
        raise ValueError(f"{source}: cannot add {', '.join(added)} (missing {missing}, unexpected {unexpected})")
    return grown, before


def train(mc: ModelConfig, tc: TrainConfig, out: Path, log=print) -> Path:
    if tc.schedule not in ("cosine", "wsd"):
        raise ValueError(f"schedule {tc.schedule!r} is not one of cosine, wsd")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if tc.device == "auto" else tc.device
    dtype = {"auto": torch.bfloat16 if device == "cuda" else torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16}[tc.dtype]
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    tok = CodeTokenizer(Path(tc.tokenizer).expanduser())
    if mc.vocab_size != tok.vocab_size:
        mc = dataclasses.replace(mc, vocab_size=tok.vocab_size)
    if mc.has_encoder and tok.hole != mc.vocab_size - 2:  # LineaModel.hole_id
        raise ValueError(f"the tokenizer's <hole> is {tok.hole}, the model expects vocab_size - 2")
    folder = data.prepare(Path(tc.corpus).expanduser(), Path(tc.tokenizer).expanduser(), splits=("train", "val"))
    train_tokens, train_docs = data.load(folder, "train")
    val_tokens, val_docs = data.load(folder, "val")
    header_format = LANGUAGE_HEADER if tc.lang_header else None
    if header_format:
        train_tokens = data.with_headers(train_tokens, train_docs, tok, header_format)
        val_tokens = data.with_headers(val_tokens, val_docs, tok, header_format)
    batches = Batches(train_tokens, tc.seq_len, tc.batch_size, tc.seed)
    val_batches = Batches(val_tokens, tc.seq_len, tc.batch_size, tc.seed + 1)
    byte_table = data.token_bytes_table(tok)

    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "ckpt.pt"
    tokens_before = 0  # tokens of the runs behind init_from, so the manifest counts every run
    earlier_runs: list[dict] = []  # their training records, for the card's curve across runs
    if tc.init_from:
        model, before = start_from(Path(tc.init_from).expanduser(), mc)
        tokens_before = int(before.get("tokens_total", before.get("tokens", 0)))
        earlier_runs = before["runs"]
        log(f"starting from {tc.init_from} ({tokens_before:,} tokens of earlier training); optimizer restarts")
        if tc.fusion_redraw_std > 0 and mc.has_encoder:
            # Trained beside a memory that carried nothing, the fusion's query and key maps stayed at their
            # init scale, where its attention over the slots is uniform (entropy 0.997 of the maximum; see
            # encoder_stats.py) and a slot worth reading gets almost no gradient: redrawn wider, the
            # attention starts selective. Its values and output projection are kept, so the decoder's
            # output does not jump.
            with torch.no_grad():
                for fb in model.fusion:
                    fb.q.weight.normal_(0.0, tc.fusion_redraw_std)
                    fb.kv.weight[: mc.d_model].normal_(0.0, tc.fusion_redraw_std)  # the keys; values kept
            log(f"fusion query and key maps redrawn at std {tc.fusion_redraw_std}")
        model = model.to(device).train()
    else:
        model = LineaModel(mc).to(device)
    model.recompute = tc.recompute
    if tc.train_only:
        # A new part trained beside a frozen model: the decoder's outputs (null memory) stay bit for bit.
        prefixes = tuple(p.strip() for p in tc.train_only.split(",") if p.strip())
        learn = [n for n, p in model.named_parameters() if n.startswith(prefixes)]
        if not learn:
            raise ValueError(f"train_only {tc.train_only!r} matches no parameter")
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith(prefixes))
        log(f"training only {len(learn)} tensors ({sum(p.numel() for p in model.parameters() if p.requires_grad):,} values): {', '.join(learn)}")
    opt = make_optimizer(model, tc, fused=device == "cuda")
    it = tokens_seen = 0
    elapsed_before = 0.0
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device)
        if from_dict(ModelConfig, ckpt["config"]) != mc:  # keys added since take their defaults
            raise ValueError(f"{ckpt_path} was trained with another model config; use a new --out")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        it, tokens_seen, elapsed_before = ckpt["iter"], ckpt["tokens"], ckpt.get("seconds", 0.0)
        tokens_before = ckpt.get("train_info", {}).get("tokens_total", tokens_seen) - tokens_seen
        earlier_runs = ckpt.get("train_info", {}).get("runs", [])[:-1]
        batches.rng = np.random.default_rng(tc.seed + it)
        log(f"resumed from {ckpt_path} at step {it}, {tokens_seen:,} tokens")
    if tc.compile:  # fim_loss calls trunk/encode/fuse/project, so compile those rather than forward
        for name in ("trunk", "encode", "project"):
            setattr(model, name, torch.compile(getattr(model, name)))
    total_iters = math.ceil(tc.max_tokens / (tc.batch_size * tc.seq_len))
    rng = np.random.default_rng(tc.seed + it + 7)
    log(f"model {mc.variant}: {model.n_params():,} parameters; {total_iters} steps of {tc.batch_size}x{tc.seq_len} on {device} ({dtype})")
    logf = open(out / "log.jsonl", "a")
    t0, last_t, last_tokens = time.time(), time.time(), tokens_seen

    def save(final=False):
        info = {"tokens": tokens_seen, "tokens_total": tokens_before + tokens_seen, "init_from": tc.init_from or None, "iters": it, "seconds": elapsed_before + time.time() - t0, "device": device,
                "gpu": torch.cuda.get_device_name() if device == "cuda" else None, "seq_len": tc.seq_len,
                "batch_size": tc.batch_size, "torch": torch.__version__, "final": final, "language_header": header_format}
        if earlier_runs:
            run = {k: info[k] for k in ("tokens", "iters", "seconds", "device", "seq_len", "batch_size")}
            info["runs"] = earlier_runs + [run | {"schedule": tc.schedule, "lr": tc.lr} | ({"train_only": tc.train_only} if tc.train_only else {})]
        torch.save({"config": dataclasses.asdict(mc), "train_config": dataclasses.asdict(tc), "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "iter": it, "tokens": tokens_seen, "seconds": info["seconds"],
                    "special": tok.special, "train_info": info}, out / "ckpt.tmp")
        (out / "ckpt.tmp").replace(ckpt_path)  # atomic: an interrupted save never leaves a torn checkpoint

    while it < total_iters:
        if tc.max_minutes and (time.time() - t0) / 60 >= tc.max_minutes:
            log(f"stopping at the {tc.max_minutes} min cap after {tokens_seen:,} tokens")
            break
        lr = lr_at(it, total_iters, tc, (time.time() - t0) / 60 / tc.max_minutes if tc.max_minutes else 0.0)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        x = batches.next().to(device)
        ctx, scored = fim_split(x, tc, tok.hole, rng)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            loss = fim_loss(model, x, ctx, scored, tok.hole)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        it += 1
        tokens_seen += x.shape[0] * (x.shape[1] - 1)
        if it % 20 == 0 or it == 1:
            now = time.time()
            tps = (tokens_seen - last_tokens) / max(now - last_t, 1e-9)
            last_t, last_tokens = now, tokens_seen
            rec = {"iter": it, "tokens": tokens_seen, "loss": float(loss), "lr": lr, "tok_per_s": round(tps)}
            log(json.dumps(rec))
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
        if it % tc.eval_interval == 0 or it == total_iters:
            ev = evaluate(model, val_batches, tc, tok, byte_table, tc.eval_batches, np.random.default_rng(0))
            rec = {"iter": it, "tokens": tokens_seen, **{k: round(v, 4) for k, v in ev.items()}}
            log(json.dumps(rec))
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            save()
    save(final=True)
    logf.close()
    return ckpt_path


def main(argv=None) -> int:
    try:
        mc, tc, out = parse_args(sys.argv[1:] if argv is None else argv)
        path = train(mc, tc, out)
    except (ValueError, FileNotFoundError) as e:
        print(f"train: {e}", file=sys.stderr)
        return 2
    print(f"checkpoint: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
