"""Writes the golden fixtures the TypeScript engine is tested against (test/fixtures/).

    python models/training/fixtures.py            # regenerates everything under test/fixtures/

- tokenizer/tokenizer.json: a tiny byte-level BPE (512 entries) trained on this folder's sources;
  tokenizer/vectors.json: text -> ids for hard cases (unicode, tabs, CRLF, long lines, lone surrogates).
- models/tiny-<variant>/: a tiny random model of each variant, exported exactly as shipped models are;
  tiny-<variant>.expected.json: token ids, the run schedule, the logits after every run and state digests;
  tiny-deltanet-copy: the default's variant with the copy path (a memory with a bonus table).

    python models/training/fixtures.py --only deltanet-copy   # one model fixture, the tokenizer as it is
- shipped-vectors.json (when models/linea-*/tokenizer.json exists): real source texts and their ids under
  each distinct shipped tokenizer.
"""
from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from config import VARIANTS
from export import export_model
from onnx_runner import OnnxModel
from tiny import tiny_model
from tokenizer import CodeTokenizer, train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "test" / "fixtures"
SCHEDULE = [1, 1, 1, 4, 32, 1, 1, 64, 1, 13, 1, 1, 100, 2, 1]  # chunk sizes, 223 tokens

HARD_TEXTS = [
    "",
    "def add(a, b):\n    return a + b\n",
    "function f(x) {\r\n\treturn x === 1 ? 'a' : \"b\";\r\n}\r\n",
    "mixed\nline\r\nendings\rhere\n\n\n",
    "\t\t\tdeep\ttabs\t \t",
    "    indented    spaces   between    words    ",
    "naïve café 日本語のテキスト 한국어 Ελληνικά русский",
    "emoji 😀🎉👩‍💻 and flags 🇫🇷 ∑∫√ ≠ ≤",
    "const s = `template ${value} string`; // comment\n/* block */",
    "x = 0x1F + 1e-10 - 3.14159 * 1_000_000",
    "<|endoftext|> is plain text here, so is <|hole|>",
    "a" * 3000 + " " + "=" * 500,
    "lone surrogates \ud800 and \udfff in the middle \ud83d",
    "\u00a0nbsp\u2028line sep\u0085nel\ufeffbom\u3000ideographic space",
    "\x00\x01\x02 control \x7f chars",
    "if (a&&b||!c) { return [1,2,3].map(x=>x*2); }",
]


def split_schedule(schedule: list[int], max_chunk: int) -> list[int]:
    """Chunks longer than the graph takes (16 for the gated delta rule) become several runs."""
    out = []
    for size in schedule:
        while size > 0:
            out.append(min(size, max_chunk))
            size -= out[-1]
    return out


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")


def digest(a: np.ndarray) -> dict:
    flat = a.astype(np.float64).ravel()
    return {"shape": list(a.shape), "sum": float(flat.sum()), "abs_sum": float(np.abs(flat).sum()),
            "head": [float(x) for x in flat[:16]]}


def tokenizer_fixtures() -> CodeTokenizer:
    texts = [p.read_text() for p in sorted(HERE.glob("*.py"))]
    tok_path = OUT / "tokenizer" / "tokenizer.json"
    tok_path.parent.mkdir(parents=True, exist_ok=True)
    train(texts, 515).save(str(tok_path))
    tok = CodeTokenizer(tok_path)
    vectors = [{"text": t, "ids": tok.encode(t), "decoded": tok.decode(tok.encode(t))} for t in HARD_TEXTS]
    write_json(OUT / "tokenizer" / "vectors.json", {"special": tok.special, "vectors": vectors})
    return tok


# fixture name -> (variant, model config keys beyond tiny_config's)
MODELS = {v: (v, {}) for v in VARIANTS} | {"deltanet-copy": ("deltanet", {"copy_slots": 40})}


def model_fixtures(tok: CodeTokenizer, only: str | None = None) -> None:
    rng = random.Random(0)
    for name, (variant, keys) in MODELS.items():
        # drawn for every model in order, so one model regenerated alone gets the ids it always had
        ids = [rng.randrange(tok.bpe_size) for _ in range(sum(SCHEDULE))]
        context = [rng.randrange(tok.bpe_size) for _ in range(60)] + [tok.hole] + [rng.randrange(tok.bpe_size) for _ in range(40)]
        if only and name != only:
            continue
        model = tiny_model(variant, vocab_size=tok.vocab_size, **keys)
        folder = OUT / "models" / f"tiny-{name}"
        if folder.exists():
            shutil.rmtree(folder)
        export_model(model, folder, f"tiny-{name}", OUT / "tokenizer" / "tokenizer.json", tok.special)
        onx = OnnxModel(folder)
        with torch.no_grad():
            memory = model.encode(torch.tensor([context])).numpy()
            null = model.null_memory(tok.hole).numpy()
            ref, _, _ = model(torch.tensor([ids]), memory=torch.from_numpy(memory))
        schedule = split_schedule(SCHEDULE, model.cfg.graph_chunk)
        state, at, runs = onx.init_state(), 0, []
        for size in schedule:
            logits, state = onx.step(ids[at : at + size], state, memory)
            at += size
            want = ref[0, at - 1].numpy()
            assert np.abs(logits - want).max() <= 1e-4, f"{name}: onnx and torch disagree"
            runs.append({"tokens": at, "logits": [round(float(x), 6) for x in want]})
        write_json(OUT / "models" / f"tiny-{name}.expected.json", {
            "variant": variant, "ids": ids, "schedule": schedule, "context_ids": context,
            "memory": [round(float(x), 6) for x in memory.ravel()],
            "null_memory": [round(float(x), 6) for x in null.ravel()],
            "runs": runs,
            "final_state": {s["name"]: digest(a) for s, a in zip(onx.state_spec, state)},
        })
        print(f"fixtures: tiny-{name} ({sum(p.stat().st_size for p in folder.iterdir()) // 1024} KiB)")


def unsupported_op_graph() -> None:
    """A graph with an op no runtime has, for the engine's "unsupported op" error message test."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("LineaNoSuchOp", ["input_ids"], ["logits"])
    graph = helper.make_graph([node], "unsupported", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "T"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(OUT / "models" / "unsupported-op.onnx"))


def shipped_vectors() -> None:
    """Real source text (this repo's own, copied in, so later edits to those files do not break the
    test) through every distinct shipped tokenizer."""
    files = sorted(ROOT.glob("src/**/*.ts"))[:8] + sorted(HERE.glob("*.py"))[:8]
    texts = [{"name": str(f.relative_to(ROOT)), "text": f.read_text()} for f in files]
    seen, tokenizers = set(), {}
    for tj in sorted((ROOT / "models").glob("*/tokenizer.json")):
        if (body := tj.read_bytes()) in seen:
            continue  # the shipped models share one tokenizer: check each distinct file once
        seen.add(body)
        tok = CodeTokenizer(tj)
        tokenizers[str(tj.relative_to(ROOT))] = [tok.encode(t["text"]) for t in texts]
    if tokenizers:
        write_json(OUT / "shipped-vectors.json", {"texts": texts, "tokenizers": tokenizers})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--only"] and len(argv) == 2 and argv[1] in MODELS:
        model_fixtures(CodeTokenizer(OUT / "tokenizer" / "tokenizer.json"), only=argv[1])
        return 0
    if argv:
        print(f"usage: fixtures.py [--only {'|'.join(MODELS)}]", file=sys.stderr)
        return 2
    tok = tokenizer_fixtures()
    model_fixtures(tok)
    unsupported_op_graph()
    shipped_vectors()
    return 0


if __name__ == "__main__":
    sys.exit(main())
