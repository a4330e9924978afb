"""Evaluates an exported model folder with onnxruntime: the figures of the model card.

    python evaluate.py --model models/linea-linear [--corpus ~/.cache/linea/corpus] [--update-manifest]
    python evaluate.py --model models/linea-linear --dir SOME/SOURCE/DIR     # line completion on a folder
    python evaluate.py --export-sample DIR --corpus ...                       # test-split files for `linea eval`

- bits per byte on the test split: overall, per language, per position bucket (0-512, 512-2k, 2k-8k,
  8k-32k tokens into a file), with the decoder alone (null memory), state carried exactly in chunks;
- bits per byte on FIM middle spans with and without the encoder's memory;
- line completion (CodeXGLUE-style): a seeded cut at a token boundary of a random line, greedy to the
  end of the line; exact match and edit similarity 100 * (1 - levenshtein / max length). The cuts and
  metrics are those of the TypeScript `linea eval` (src/cli/evalProtocol.ts), PRNG included;
- int8 next-token agreement with fp32, when the folder has decoder_step_int8.onnx;
- recall (recall.py, the engine's mixture): bits/byte of each file's first 1024 tokens with and without
  it, line EM / edit similarity with it, and the model-free copy rule as a baseline.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from corpus_io import read_split
from export import ExportError
from onnx_runner import OnnxModel
from recall import RecallMatcher, RecallOptions, Source
from tokenizer import LANG_BY_EXT, CodeTokenizer, lang_of_path

BUCKETS = [(0, 512), (512, 2048), (2048, 8192), (8192, 32768)]
EXTENSIONS = tuple(LANG_BY_EXT)
LN2 = math.log(2)


def mulberry32(seed: int):
    """The PRNG of src/engine/core/sampling.ts, bit for bit, so both evaluators pick the same cuts."""
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def rnd() -> float:
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = imul(a ^ (a >> 15), a | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return rnd


def choose_cuts(names: list[str], texts: list[str], tok: CodeTokenizer, n: int, seed: int) -> list[dict]:
    """Mirrors chooseCuts in src/cli/evalProtocol.ts."""
    rnd = mulberry32(seed)
    order = list(range(len(names)))
    for i in range(len(order) - 1, 0, -1):
        j = int(rnd() * (i + 1))
        order[i], order[j] = order[j], order[i]
    cuts = []
    for i in order:
        if len(cuts) >= n:
            break
        text = texts[i]
        lines, start = [], 0
        for line in text.split("\n"):
            if len(line.strip()) >= 4:
                lines.append((start, start + len(line)))
            start += len(line) + 1
        if not lines:
            continue
        ls, le = lines[int(rnd() * len(lines))]
        line = text[ls:le]
        indent_end = ls + len(line) - len(line.lstrip())
        bounds = [ls + a for _, (a, _b) in tok.tok.pre_tokenizer.pre_tokenize_str(line) if indent_end <= ls + a < le]
        if not bounds:
            continue
        offset = bounds[int(rnd() * len(bounds))]
        target = text[offset:le].removesuffix("\r")
        if not target.strip():
            continue
        cuts.append({"file": names[i], "index": i, "offset": offset, "target": target})
    return cuts


def levenshtein(a: str, b: str) -> int:
    if a == b:
        return 0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def copy_rule(before: str, max_chars: int = 60) -> str:
    """copyRule of src/engine/core/recall.ts: the latest earlier occurrence of the longest text (<= max_chars)
    ending at the cursor, and what followed it to the end of that line."""
    for n in range(min(max_chars, len(before) - 1), 0, -1):
        at = before.rfind(before[len(before) - n :], 0, len(before) - 1)
        if at < 0:
            continue
        eol = before.find("\n", at + n)
        return before[at + n : len(before) if eol < 0 else eol]
    return ""


def edit_similarity(pred: str, target: str) -> float:
    a, b = pred.strip(), target.strip()
    m = max(len(a), len(b))
    return 100.0 if m == 0 else 100.0 * (1 - levenshtein(a, b) / m)


class Evaluator:
    def __init__(self, folder: Path, threads: int = 2):
        self.m = OnnxModel(folder, threads=threads)
        self.tok = CodeTokenizer(folder / self.m.manifest["tokenizer"]["file"])
        self.chunk = self.m.manifest["limits"]["max_chunk"]
        self.null = self.m.null_memory() if self.m.encoder else None
        self.byte_len = np.asarray([len(self.tok.token_bytes(i)) for i in range(self.tok.vocab_size)], dtype=np.int64)
        self.header = self.m.manifest.get("languageHeader")

    def lead(self, lang: str) -> list[int]:
        """What the stream starts with: <eos>, then the language header if the model reads one."""
        return [self.tok.eos] + self.tok.header_ids(self.header, lang)

    def token_nats(self, ids: list[int], memory=None, lang: str = "txt") -> np.ndarray:
        """-log p of each of ids given the ones before it (after the lead), exact state across chunks."""
        lead = self.lead(lang)
        stream = lead + ids
        state, out = self.m.init_state(), []
        mem = self.null if memory is None else memory
        for s in range(0, len(stream) - 1, self.chunk):
            inp = stream[s : s + self.chunk]
            logits, state = self.m.full(inp, state, mem)  # (1, T, V)
            lg = logits[0].astype(np.float64)
            tgt = np.asarray(stream[s + 1 : s + 1 + len(inp)])
            lg = lg[: len(tgt)]
            lse = np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1)) + lg.max(-1)
            out.append(lse - lg[np.arange(len(tgt)), tgt])
        return np.concatenate(out)[len(lead) - 1 :] if out else np.zeros(0)

    def bpb(self, records: list[dict], max_tokens: int) -> dict:
        langs: dict[str, list[float]] = {}
        buckets = {f"{a}-{b}": [0.0, 0] for a, b in BUCKETS}
        total = [0.0, 0]
        for r in records:
            ids = self.tok.encode(r["text"])[:max_tokens]
            if not ids:
                continue
            nats = self.token_nats(ids, lang=r["lang"])
            nb = self.byte_len[np.asarray(ids)]
            lang = langs.setdefault(r["lang"], [0.0, 0])
            for acc in (lang, total):
                acc[0] += float(nats.sum())
                acc[1] += int(nb.sum())
            for a, b in BUCKETS:
                if len(ids) > a:
                    acc = buckets[f"{a}-{b}"]
                    acc[0] += float(nats[a:b].sum())
                    acc[1] += int(nb[a:b].sum())
        f = lambda acc: round(acc[0] / LN2 / acc[1], 4) if acc[1] else None  # noqa: E731
        return {"bpb": f(total), "bpb_by_language": {k: f(v) for k, v in sorted(langs.items())},
                "bpb_by_position": {k: f(v) for k, v in buckets.items()},
                "bpb_bytes_by_position": {k: v[1] for k, v in buckets.items()}}

    def middle(self, records: list[dict], seed: int, n: int) -> dict:
        """bpb on a hidden middle span (16-64 tokens), with the encoder reading prefix <hole> suffix, and without."""
        if not self.m.encoder:
            return {}
        rnd = mulberry32(seed + 17)
        with_mem = without = nbytes = 0.0
        budget = self.m.manifest["limits"]["max_encoder_tokens"]
        for r in records[:n]:
            ids = self.tok.encode(r["text"])
            if len(ids) < 200:
                continue
            span = 16 + int(rnd() * 48)
            a = 64 + int(rnd() * (min(len(ids), 2048) - span - 64))
            b = a + span
            after = ids[b : b + (budget - 1) // 2]
            ctx = ids[max(0, a - (budget - 1 - len(after))) : a] + [self.tok.hole] + after
            mem = self.m.encode(ctx)
            nats_mem = self.token_nats(ids[:b], mem, r["lang"])[a:b]
            nats_null = self.token_nats(ids[:b], None, r["lang"])[a:b]
            nb = self.byte_len[np.asarray(ids[a:b])]
            with_mem += float(nats_mem.sum())
            without += float(nats_null.sum())
            nbytes += float(nb.sum())
        if not nbytes:
            return {}
        return {"bpb_middle_with_encoder": round(with_mem / LN2 / nbytes, 4),
                "bpb_middle_without_encoder": round(without / LN2 / nbytes, 4)}

    def bpb_recall(self, records: list[dict], max_tokens: int = 1024) -> dict:
        """bits/byte of each file's first max_tokens, the model alone and mixed with recall over the
        tokens before each position (what a completion there would have), null memory."""
        alone = mixed = nbytes = 0.0
        opts = RecallOptions()
        for r in records:
            ids = self.tok.encode(r["text"])[:max_tokens]
            if not ids:
                continue
            lead = self.lead(r["lang"])
            stream, state, rows = lead + ids, self.m.init_state(), []
            for s in range(0, len(stream) - 1, self.chunk):
                logits, state = self.m.full(stream[s : s + self.chunk], state, self.null)  # (1, T, V)
                rows.append(logits[0])
            lg = np.concatenate(rows)[len(lead) - 1 : len(lead) - 1 + len(ids)].astype(np.float64)  # (n, V): row j predicts ids[j]
            for pos, t in enumerate(ids):
                p = np.exp(lg[pos] - lg[pos].max())  # (V,)
                p /= p.sum()
                m = RecallMatcher([Source(ids, skip_from=pos, skip_to=len(ids))], ids[max(0, pos - opts.max_order) : pos], opts)
                alone -= math.log(p[t])
                mixed -= math.log(m.mix(p)[t])
                nbytes += self.byte_len[t]
        if not nbytes:
            return {}
        return {"recall_bpb_first_tokens": max_tokens, "recall_bpb_alone": round(alone / LN2 / nbytes, 4),
                "recall_bpb_with": round(mixed / LN2 / nbytes, 4)}

    def complete_line(self, text: str, offset: int, lang: str = "txt", max_new: int = 48, recall: bool = False) -> tuple[str, float]:
        """Greedy to the end of the line, the editor's view: the rest of the cut line is not there."""
        line_end = text.find("\n", offset)
        after_text = "" if line_end < 0 else text[line_end:]
        prefix_ids = self.tok.encode(text[:offset])
        mem = self.null
        if self.m.encoder:
            budget = self.m.manifest["limits"]["max_encoder_tokens"]
            after = self.tok.encode(after_text)[: (budget - 1) // 2]
            mem = self.m.encode(prefix_ids[max(0, len(prefix_ids) - (budget - 1 - len(after))) :] + [self.tok.hole] + after)
        t0 = time.perf_counter()
        stream = self.lead(lang) + prefix_ids
        state = self.m.init_state()
        for s in range(0, len(stream), self.chunk):
            logits, state = self.m.step(stream[s : s + self.chunk], state, mem)
        out: list[int] = []
        text_out = ""
        # recall over the document as the editor has it: the text before the cut and the lines after
        matcher = None
        if recall:
            after_ids = self.tok.encode(after_text)
            n = len(prefix_ids)
            # position n (the first token after the cut) would be predicted by the cursor's own context
            matcher = RecallMatcher([Source(prefix_ids + after_ids, skip_from=n, skip_to=n + 1)], prefix_ids[-16:], RecallOptions())
        for _ in range(max_new):
            scores = logits[: self.tok.bpe_size + 1].astype(np.float64)
            if matcher:
                p = np.exp(scores - scores.max())
                scores = matcher.mix(p / p.sum())
            nxt = int(np.argmax(scores))
            if matcher:
                matcher.advance(nxt)
            if nxt == self.tok.eos:
                break
            out.append(nxt)
            text_out = self.tok.decode(out)
            if "\n" in text_out.lstrip("\n") or (text_out.startswith("\n") and text_out.count("\n") > 1):
                break
            logits, state = self.m.step([nxt], state, mem)
        ms = (time.perf_counter() - t0) * 1000
        lines = text_out.split("\n")
        first = next((l for l in lines if l.strip()), "")
        return first.rstrip(), ms

    def lines(self, names: list[str], texts: list[str], n: int, seed: int, recall: bool = False) -> dict:
        cuts = choose_cuts(names, texts, self.tok, n, seed)
        em = es = 0.0
        times = []
        for c in cuts:
            pred, ms = self.complete_line(texts[c["index"]], c["offset"], lang_of_path(c["file"]), recall=recall)
            em += pred.strip() == c["target"].strip()
            es += edit_similarity(pred, c["target"])
            times.append(ms)
        k = max(1, len(cuts))
        if recall:
            return {"recall_line_exact_match": round(100 * em / k, 2), "recall_line_edit_similarity": round(es / k, 2)}
        return {"line_exact_match": round(100 * em / k, 2), "line_edit_similarity": round(es / k, 2), "line_cuts": len(cuts),
                "line_ms_p50_onnxruntime_python": round(float(np.median(times)), 1) if times else None}

    def copy_lines(self, names: list[str], texts: list[str], n: int, seed: int) -> dict:
        """The model-free baseline on the same cuts: what followed the latest longest earlier match."""
        cuts = choose_cuts(names, texts, self.tok, n, seed)
        preds = [copy_rule(texts[c["index"]][: c["offset"]]) for c in cuts]
        k = max(1, len(cuts))
        return {"copy_line_exact_match": round(100 * sum(p.strip() == c["target"].strip() for p, c in zip(preds, cuts)) / k, 2),
                "copy_line_edit_similarity": round(sum(edit_similarity(p, c["target"]) for p, c in zip(preds, cuts)) / k, 2)}

    def int8_agreement(self, records: list[dict], max_tokens: int) -> float | None:
        if "decoder_step_int8" not in self.m.manifest["graphs"]:
            return None
        fp32 = OnnxModel(self.m.folder, step="decoder_step")
        q = OnnxModel(self.m.folder, step="decoder_step_int8")
        agree = total = 0
        for r in records:
            ids = [self.tok.eos] + self.tok.encode(r["text"])[:max_tokens]
            s1, s2 = fp32.init_state(), q.init_state()
            for i in range(len(ids)):
                l1, s1 = fp32.step(ids[i : i + 1], s1, self.null)
                l2, s2 = q.step(ids[i : i + 1], s2, self.null)
                agree += int(np.argmax(l1) == np.argmax(l2))
                total += 1
        return round(100 * agree / total, 2)


def sample_records(corpus: Path, split: str, n: int, long_n: int, tok: CodeTokenizer, seed: int) -> list[dict]:
    """n seeded files of the split, plus up to long_n of its longest (for the 8k-32k bucket)."""
    recs = list(read_split(corpus / f"{split}.jsonl.xz"))
    rnd = mulberry32(seed)
    picked = sorted(range(len(recs)), key=lambda i: rnd())[:n]
    longest = sorted(range(len(recs)), key=lambda i: -len(recs[i]["text"]))
    longest = [i for i in longest if 30_000 < len(recs[i]["text"]) < 400_000][:long_n]
    return [recs[i] for i in dict.fromkeys(picked + longest)]


def list_dir(d: Path) -> list[Path]:
    """Mirrors listSourceFiles: sorted walk, skipping node_modules and dot entries, files up to 1 MB."""
    out = []
    for root, dirs, files in os.walk(d):
        dirs[:] = sorted(x for x in dirs if x != "node_modules" and not x.startswith("."))
        for f in sorted(files):
            p = Path(root) / f
            if not f.startswith(".") and p.suffix in EXTENSIONS and p.stat().st_size <= 1_000_000:
                out.append(p)
    return sorted(out, key=lambda p: str(p))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache/linea/corpus")
    ap.add_argument("--split", default="test")
    ap.add_argument("--files", type=int, default=120, help="sampled files for bits per byte")
    ap.add_argument("--long-files", type=int, default=12, help="extra long files for the 8k-32k bucket")
    ap.add_argument("--max-tokens", type=int, default=32768)
    ap.add_argument("--cuts", type=int, default=200, help="line-completion cuts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, help="line completion on the source files of this folder instead")
    ap.add_argument("--export-sample", type=Path, help="write sampled test-split files into this folder and stop")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recall-files", type=int, default=40, help="files for bits/byte with recall (first 1024 tokens each)")
    ap.add_argument("--recall-only", action="store_true", help="only the recall figures (line EM with recall, copy rule, bits/byte)")
    ap.add_argument("--update-manifest", action="store_true", help="store the figures in the model's manifest.json")
    args = ap.parse_args(argv)
    try:
        if args.export_sample:
            recs = list(read_split(args.corpus / f"{args.split}.jsonl.xz"))
            rnd = mulberry32(args.seed)
            for i in sorted(range(len(recs)), key=lambda i: rnd())[: args.cuts]:
                r = recs[i]
                p = args.export_sample / r["package"].replace("/", "_") / r["path"]
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(r["text"])
            print(f"wrote {args.cuts} files under {args.export_sample}")
            return 0
        if not args.model:
            ap.error("--model is required")
        ev = Evaluator(args.model, args.threads)
        if args.dir:
            files = list_dir(args.dir)
            texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
            res = ev.lines([str(f) for f in files], texts, args.cuts, args.seed)
            print(json.dumps(res, indent=2))
            return 0
        recs = sample_records(args.corpus, args.split, args.files, args.long_files, ev.tok, args.seed)
        t0 = time.time()
        res = {} if args.recall_only else {"eval_split": args.split, "eval_files": len(recs)}
        line_recs = [r for r in recs if len(r["text"]) < 200_000]
        names, texts = [r["path"] for r in line_recs], [r["text"] for r in line_recs]
        if not args.recall_only:
            res.update(ev.bpb(recs, args.max_tokens))
            res.update(ev.middle(recs, args.seed, 60))
            res.update(ev.lines(names, texts, args.cuts, args.seed))
        res.update(ev.lines(names, texts, args.cuts, args.seed, recall=True))
        res.update(ev.copy_lines(names, texts, args.cuts, args.seed))
        res.update(ev.bpb_recall(recs[: args.recall_files]))
        agreement = None if args.recall_only else ev.int8_agreement(recs[:4], 400)
        if agreement is not None:
            res["int8_next_token_agreement"] = agreement
        res["eval_seconds"] = round(time.time() - t0)
    except (ExportError, FileNotFoundError, ValueError) as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=2))
    if args.update_manifest:
        path = args.model / "manifest.json"
        man = json.loads(path.read_text())
        man["metrics"].update(res)
        path.write_text(json.dumps(man, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
