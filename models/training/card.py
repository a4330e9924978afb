"""Writes the figures of the model card (models/README.md) from the evaluator's numbers in each
model's manifest.json and from `npm run bench`'s JSON, so every figure in the card has one source.

    python card.py --models models --bench bench-results.json [--ablation DIR ...]

Replaces the text between <!-- card:NAME --> and <!-- /card:NAME --> markers in models/README.md.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def fmt(v, digits=3):
    return "–" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def manifests(folders: list[Path]) -> list[dict]:
    out = []
    for f in folders:
        for m in sorted(f.glob("*/manifest.json")):
            out.append(json.loads(m.read_text()))
    return out


def quality_table(mans: list[dict]) -> str:
    rows = ["| model | variant | params | training tokens | bits/byte | py | js | ts | 0-512 | 512-2k | 2k-8k | 8k-32k | middle, encoder on / off | line EM | edit sim |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in mans:
        x, lang, pos = m["metrics"], m["metrics"].get("bpb_by_language", {}), m["metrics"].get("bpb_by_position", {})
        tokens = m.get("training", {}).get("tokens_total", m.get("training", {}).get("tokens"))
        mid = f'{fmt(x.get("bpb_middle_with_encoder"))} / {fmt(x.get("bpb_middle_without_encoder"))}'
        rows.append(f'| {m["id"]} | {m["variant"]} | {m["parameters"] / 1e6:.2f}M | {fmt(tokens and f"{tokens / 1e6:.1f}M")} | '
                    f'{fmt(x.get("bpb"))} | {fmt(lang.get("py"))} | {fmt(lang.get("js"))} | {fmt(lang.get("ts"))} | '
                    f'{fmt(pos.get("0-512"))} | {fmt(pos.get("512-2048"))} | {fmt(pos.get("2048-8192"))} | {fmt(pos.get("8192-32768"))} | '
                    f'{mid} | {fmt(x.get("line_exact_match"), 1)} | {fmt(x.get("line_edit_similarity"), 1)} |')
    return "\n".join(rows)


def recall_table(mans: list[dict]) -> str:
    """Line completion and bits/byte with and without recall (evaluate.py; the same cuts per model)."""
    rows = ["| model | line EM: alone / recall / copy rule | edit sim: alone / recall / copy rule | bits/byte, first 1024 tokens: alone / recall |",
            "|---|---|---|---|"]
    for m in mans:
        x = m["metrics"]
        if "recall_line_exact_match" not in x:
            continue
        change = (x["recall_bpb_with"] / x["recall_bpb_alone"] - 1) * 100 if x.get("recall_bpb_alone") else None
        rows.append(f'| {m["id"]} | {fmt(x.get("line_exact_match"), 1)} / **{fmt(x.get("recall_line_exact_match"), 1)}** / {fmt(x.get("copy_line_exact_match"), 1)} | '
                    f'{fmt(x.get("line_edit_similarity"), 1)} / **{fmt(x.get("recall_line_edit_similarity"), 1)}** / {fmt(x.get("copy_line_edit_similarity"), 1)} | '
                    f'{fmt(x.get("recall_bpb_alone"))} / **{fmt(x.get("recall_bpb_with"))}** ({fmt(change, 1)}%) |')
    return "\n".join(rows)


def latency_table(bench: dict) -> str:
    ctx = bench["contexts"]
    head = "| model | variant | " + " | ".join(f"ms/token @{c}" for c in ctx) + f" | {ctx[-1]}/{ctx[0]} | 16-token suggestion @{ctx[0]} / @{ctx[-1]} (ms) | prefill tok/s | state @{ctx[-1]} |"
    rows = [head, "|" + "---|" * (len(ctx) + 6)]
    for r in bench["rows"]:
        p = r["points"]
        state = p[-1]["stateBytes"]
        st = f"{state / 2**20:.1f} MiB" if state >= 2**20 else f"{state / 1024:.0f} KiB"
        rows.append(f'| {r["id"]} | {r["variant"]} | ' + " | ".join(f'{q["stepMs"]:.2f}' for q in p) +
                    f' | {r["ratio"]:.2f} | {p[0]["ttfsMs"]:.0f} / {p[-1]["ttfsMs"]:.0f} | {r["prefillTokPerS"]:.0f} | {st} |')
    return "\n".join(rows)


def ablation_table(mans: list[dict], benches: list[dict]) -> str:
    """Every decoder at equal size and tokens against the softmax baseline, with the cost side."""
    rows_by_id = {r["id"]: r for b in benches for r in b["rows"]}
    base = next((m["metrics"].get("bpb") for m in mans if m["variant"] == "softmax"), None)
    rows = ["| model | variant | bits/byte | vs softmax | line EM | edit sim | ms/token @256 | @64k | 64k/256 | state per document @64k | default-eligible |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in sorted(mans, key=lambda m: m["metrics"].get("bpb", 9)):
        x, b = m["metrics"], rows_by_id.get(m["id"])
        gap = f'{100 * (x["bpb"] / base - 1):+.1f}%' if base and x.get("bpb") else "–"
        p = b["points"] if b else None
        # Measured where the bench ran (a sparse model's state grows by summaries, not per token).
        state = p[-1]["stateBytes"] if p else m["state_bytes"]["fixed"] + m["state_bytes"]["per_token"] * 65536
        st = f"{state / 2**20:.1f} MiB" if state >= 2**20 else f"{state / 1024:.0f} KiB"
        ratio = b["ratio"] if b else None
        eligible = ratio is not None and ratio <= 1.1 and state <= 2 * 2**20
        rows.append(f'| {m["id"]} | {m["variant"]} | {fmt(x.get("bpb"))} | {gap} | {fmt(x.get("line_exact_match"), 1)} | '
                    f'{fmt(x.get("line_edit_similarity"), 1)} | {fmt(p and p[0]["stepMs"], 2)} | {fmt(p and p[-1]["stepMs"], 2)} | '
                    f'{fmt(ratio, 2)} | {st} | {"yes" if eligible else "no"} |')
    return "\n".join(rows)


def training_table(mans: list[dict]) -> str:
    rows = ["| model | tokens | steps | batch × context | wall time | hardware |", "|---|---|---|---|---|---|"]
    for m in mans:
        t = m.get("training", {})
        if not t:
            continue
        hw = t.get("gpu") or f'{t.get("device", "?")} (PyTorch {t.get("torch", "?")})'
        runs = t.get("runs") or []
        tokens = f'{t["tokens"] / 1e6:.1f}M'
        if len(runs) > 1:  # the other columns are the last run's
            only = f', {runs[-1]["train_only"]} only' if runs[-1].get("train_only") else ""
            tokens = f'{t.get("tokens_total", t["tokens"]) / 1e6:.1f}M in {len(runs)} runs (the last: {tokens}{only})'
        rows.append(f'| {m["id"]} | {tokens} | {t.get("iters", "–")} | {t.get("batch_size", "?")} × {t.get("seq_len", "?")} | '
                    f'{t.get("seconds", 0) / 3600:.1f} h | {hw} |')
    return "\n".join(rows)


def runs_table(mans: list[dict]) -> str:
    """The learning curve across runs of a model continued from its shipped weights (train.py init_from)."""
    rows = ["| model | run | tokens | cumulative | schedule | where | test bits/byte after | line EM after |",
            "|---|---|---|---|---|---|---|---|"]
    for m in mans:
        runs = m.get("training", {}).get("runs") or []
        total = 0
        for i, r in enumerate(runs, 1):
            total += r.get("tokens", 0)
            met = m["metrics"] if i == len(runs) else r.get("metrics", {})
            where = f'{r.get("device", "?")}, {r.get("seconds", 0) / 3600:.1f} h'
            only = f' ({r["train_only"]} only)' if r.get("train_only") else ""
            rows.append(f'| {m["id"]} | {i} | {r.get("tokens", 0) / 1e6:.1f}M | {total / 1e6:.1f}M | {r.get("schedule", "cosine")}{only} | '
                        f'{where} | {fmt(met.get("bpb"))} | {fmt(met.get("line_exact_match"), 1)} |')
    return "\n".join(rows)


def int8_table(mans: list[dict]) -> str:
    rows = ["| model | int8 next-token agreement | decoder shipped |", "|---|---|---|"]
    for m in mans:
        a = m["metrics"].get("int8_next_token_agreement")
        rows.append(f'| {m["id"]} | {fmt(a, 2) if a is not None else "not measured"} | {m.get("step") or m["decoder"]} |')
    return "\n".join(rows)


def encoder_table(mans: list[dict]) -> str:
    """encoder_stats.py's diagnostics: does the memory carry the file, and does the decoder read it?"""
    rows = ["| model | suffix / copy slots | middle, encoder on / off | memory spread: packed / suffix | encoder / fusion gradient vs decoder | fusion attention entropy | on suffix slots | fusion output moved | middle targets in the copy table | middle loss the copy path saves |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for m in mans:
        x, e = m["metrics"], m["metrics"].get("encoder")
        if not e:
            continue
        rows.append(f'| {m["id"]} | {m["config"].get("suffix_slots", 0)} / {m["config"].get("copy_slots", 0)} | '
                    f'{fmt(x.get("bpb_middle_with_encoder"))} / {fmt(x.get("bpb_middle_without_encoder"))} | '
                    f'{fmt(e.get("memory_spread_packed"), 2)} / {fmt(e.get("memory_spread_suffix"), 2)} | '
                    f'{e["encoder_grad_vs_decoder"]:.1e} / {e["fusion_grad_vs_decoder"]:.1e} | '
                    f'{fmt(e.get("fusion_attention_entropy"), 3)} | {fmt(e.get("fusion_attention_on_suffix"), 2)} | '
                    f'{fmt(e.get("fusion_output_moved"), 4)} | {fmt(e.get("copy_targets_in_suffix"), 2)} | '
                    f'{fmt(e.get("copy_loss_saved"), 3)} |')
    return "\n".join(rows)


def replace(text: str, name: str, body: str) -> str:
    # The block may be empty (markers on consecutive lines) or hold an earlier table.
    pat = re.compile(rf"(<!-- card:{name} -->\n)(?:.*?\n)?(<!-- /card:{name} -->)", re.S)
    if not pat.search(text):
        raise ValueError(f"models/README.md has no <!-- card:{name} --> ... <!-- /card:{name} --> block")
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--card", type=Path, default=Path("models/README.md"))
    ap.add_argument("--bench", type=Path)
    ap.add_argument("--ablation", type=Path, nargs="*", default=[], help="folders of exported models not shipped")
    ap.add_argument("--ablation-bench", type=Path)
    args = ap.parse_args(argv)
    try:
        text = args.card.read_text()
        shipped = manifests([args.models])
        text = replace(text, "quality", quality_table(shipped))
        text = replace(text, "int8", int8_table(shipped))
        text = replace(text, "training", training_table(shipped + manifests(args.ablation)))
        if "<!-- card:runs -->" in text:
            text = replace(text, "runs", runs_table(shipped))
        if "<!-- card:recall -->" in text:
            text = replace(text, "recall", recall_table(shipped))
        if "<!-- card:encoder -->" in text:
            text = replace(text, "encoder", encoder_table(shipped))
        bench = json.loads(args.bench.read_text()) if args.bench else None
        ablation_bench = json.loads(args.ablation_bench.read_text()) if args.ablation_bench else None
        benches = [b for b in (bench, ablation_bench) if b]
        if bench:
            text = replace(text, "latency", latency_table(bench))
        if args.ablation:
            others = manifests(args.ablation)
            text = replace(text, "ablation", ablation_table(shipped + others, benches) + "\n\n" + quality_table(others))
        if ablation_bench:
            text = replace(text, "ablation-latency", latency_table(ablation_bench))
        args.card.write_text(text)
    except (OSError, ValueError, KeyError) as e:
        print(f"card: {e}", file=sys.stderr)
        return 2
    print(f"updated {args.card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
