"""int8 (dynamic quantization) of a model's step decoder, kept only where it agrees with fp32 and is faster.

    python quantize.py make --model models/linea-linear     # writes decoder_step_int8.onnx, reports agreement
    python quantize.py select --model models/linea-linear   # the engine decodes with it
    python quantize.py drop --model models/linea-linear     # removes it (slower or less accurate)

`make` measures next-token agreement with the fp32 decoder on held-out text (the test split);
which graph is faster in onnxruntime-web WASM is measured by `linea bench --int8` on the TypeScript side.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from evaluate import Evaluator, sample_records
from export import ExportError, write_manifest

AGREEMENT_FLOOR = 99.0  # percent of positions where int8 and fp32 pick the same next token


def fold_weight_casts(model: onnx.ModelProto) -> int:
    """float16 storage is read through Cast nodes, which hide the weights from the quantizer (it only
    quantizes MatMuls whose weight is an initializer): turn each Cast of a float16 initializer into a
    float32 initializer. Returns how many were folded."""
    inits = {i.name: i for i in model.graph.initializer}
    kept, folded = [], 0
    for n in model.graph.node:
        src = inits.get(n.input[0]) if n.op_type == "Cast" and n.input else None
        if src is not None and src.data_type == onnx.TensorProto.FLOAT16:
            w = numpy_helper.to_array(src).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(w, n.output[0]))
            folded += 1
        else:
            kept.append(n)
    used = {x for n in kept for x in n.input}
    dead = [i for i in model.graph.initializer if i.name not in used and i.data_type == onnx.TensorProto.FLOAT16]
    for i in dead:
        model.graph.initializer.remove(i)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return folded


def make(folder: Path, corpus: Path, positions: int) -> float:
    man = json.loads((folder / "manifest.json").read_text())
    src, dst = folder / man["graphs"]["decoder_step"]["file"], folder / "decoder_step_int8.onnx"
    model = onnx.load(str(src), load_external_data=True)
    fold_weight_casts(model)
    quantize_dynamic(model, str(dst), weight_type=QuantType.QInt8, use_external_data_format=False)
    ops = {n.op_type for n in onnx.load(str(dst), load_external_data=False).graph.node}
    if not ops & {"MatMulInteger", "DynamicQuantizeLinear", "QGemm"}:
        dst.unlink()
        raise ExportError(f"{src.name}: the quantizer found no weight to quantize")
    g = dict(man["graphs"]["decoder_step"])
    g.update(file=dst.name, external_data=[])
    man["graphs"]["decoder_step_int8"] = g
    write_manifest(folder, man)
    ev = Evaluator(folder)
    recs = sample_records(corpus, "test", 8, 0, ev.tok, seed=1)
    agreement = ev.int8_agreement(recs, positions // len(recs))
    man = json.loads((folder / "manifest.json").read_text())
    man["metrics"]["int8_next_token_agreement"] = agreement
    write_manifest(folder, man)
    return agreement


def select(folder: Path, graph: str) -> None:
    man = json.loads((folder / "manifest.json").read_text())
    if graph not in man["graphs"]:
        raise ExportError(f"{folder}/manifest.json has no graph {graph!r}")
    agreement = man["metrics"].get("int8_next_token_agreement")
    if graph.endswith("int8") and (agreement is None or agreement < AGREEMENT_FLOOR):
        raise ExportError(f"int8 agreement {agreement} is below {AGREEMENT_FLOOR}%: keep the fp32 decoder")
    man["step"] = graph
    write_manifest(folder, man)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["make", "select", "drop"])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--graph", default="decoder_step_int8")
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache/linea/corpus")
    ap.add_argument("--positions", type=int, default=2000)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "make":
            a = make(args.model, args.corpus, args.positions)
            verdict = "eligible" if a >= AGREEMENT_FLOOR else "below the floor: keep fp32"
            print(f"{args.model}: int8 next-token agreement {a}% ({verdict})")
        elif args.cmd == "select":
            select(args.model, args.graph)
            print(f"{args.model}: the engine now decodes with {args.graph}")
        else:  # drop the int8 graph (slower or less accurate): it is not shipped
            man = json.loads((args.model / "manifest.json").read_text())
            man["graphs"].pop("decoder_step_int8", None)
            man["step"] = "decoder_step"
            (args.model / "decoder_step_int8.onnx").unlink(missing_ok=True)
            write_manifest(args.model, man)
            print(f"{args.model}: int8 graph removed")
    except (ExportError, FileNotFoundError, ValueError) as e:
        print(f"quantize: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
