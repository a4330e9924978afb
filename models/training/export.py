"""Exports a trained model to ONNX for onnxruntime-web: decoder.onnx (state in, state out), encoder.onnx,
an optional int8 decoder, and manifest.json that the TypeScript engine loads.

    python export.py --checkpoint CKPT --tokenizer TOKENIZER_JSON --out models/ID [--int8 --val FILE]
    python export.py --reexport-decoders models/ID   # the chunk and prefill graphs again, from the folder's weights
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import shutil
import sys
from pathlib import Path

import onnx
import torch
import torch.nn as nn

from config import CONSTANT_STATE, ModelConfig, from_dict
from model import LineaModel

OPSET = 17
PREFILL_GRAPH = "decoder_prefill"  # the fixed-length prefill graph, where the variant has one
# Ops the graphs must not contain: no loops (Loop, Scan), no CumSum (O(L^2) on WebGPU), no Trilu
# (missing from the JSEP WebGPU build), no Softplus (falls back to the CPU on WebGPU).
FORBIDDEN_OPS = {"Loop", "Scan", "CumSum", "Trilu", "Softplus", "If"}


class ExportError(Exception):
    pass


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_checkpoint(path: str | Path) -> tuple[LineaModel, dict]:
    """Loads a checkpoint written by train.py; every failure names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many types for a corrupt file
        raise ExportError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise ExportError(f"{path}: not a Linea checkpoint (expected keys 'config' and 'model')")
    try:
        cfg = from_dict(ModelConfig, ckpt["config"], f"{path} config")
    except ValueError as e:
        raise ExportError(str(e)) from None
    model = LineaModel(cfg)
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=False)
    if missing or unexpected:
        raise ExportError(f"{path}: weights do not match the config (missing {missing[:4]}, unexpected {unexpected[:4]})")
    return model.eval(), ckpt


def state_names(model: LineaModel) -> list[dict]:
    """The decoder's state tensors in graph order: the position counter, then each layer's tensors."""
    out = [{"name": "pos", "shape": [1], "dtype": "int64", "grows_axis": None}]
    for s in model.state_spec():
        grows = [i for i, d in enumerate(s.shape) if d is None]
        out.append({"name": s.name, "shape": [0 if d is None else d for d in s.shape], "dtype": s.dtype,
                    "grows_axis": grows[0] if grows else None})
    for s in out:
        s["input"], s["output"] = f"past.{s['name']}", f"present.{s['name']}"
    return out


class DecoderGraph(nn.Module):
    """The exported decoder: (input_ids, memory, past state...) -> (logits of the last position, present state...)."""

    def __init__(self, model: LineaModel, last_only: bool = True):
        super().__init__()
        self.model, self.last_only = model, last_only

    def forward(self, input_ids, memory, pos, *state):
        batched = [s.unsqueeze(0) for s in state]
        mem = memory if self.model.cfg.has_encoder else None
        logits, new_state, new_pos = self.model(input_ids, batched, pos, mem, last_only=self.last_only)
        return (logits, new_pos) + tuple(s[0] for s in new_state)


class EncoderGraph(nn.Module):
    def __init__(self, model: LineaModel):
        super().__init__()
        self.model = model

    def forward(self, context_ids):
        return self.model.encode(context_ids)


def _onnx_export(module, args, path, input_names, output_names, dynamic_axes):
    kwargs = dict(input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                  opset_version=OPSET, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter keeps shape arithmetic dynamic, as we need
    torch.onnx.export(module, args, str(path), **kwargs)


def check_graph(path: Path) -> list[str]:
    """Verifies the graph loads, uses opset >= 17 and none of FORBIDDEN_OPS; returns its op types."""
    g = onnx.load(str(path))
    onnx.checker.check_model(g)
    opset = max(o.version for o in g.opset_import if o.domain in ("", "ai.onnx"))
    if opset < OPSET:
        raise ExportError(f"{path}: opset {opset} < {OPSET}")
    ops = sorted({n.op_type for n in g.graph.node})
    bad = FORBIDDEN_OPS.intersection(ops)
    if bad:
        raise ExportError(f"{path}: contains ops the WebGPU/WASM runtime must not see: {sorted(bad)}")
    return ops


def example_state(model: LineaModel, grow: int = 3) -> list[torch.Tensor]:
    """Non-empty example state so tracing never specialises a dynamic axis to 0."""
    out = []
    for spec in model.state_spec():
        shape = tuple(grow if d is None else d for d in spec.shape)
        out.append(torch.randn(shape) * 0.1)
    return out


def export_decoder(model: LineaModel, path: Path, last_only: bool = True, static_t: int | None = None) -> dict:
    """The decoder graph: T dynamic (one chunk of 1..max_chunk tokens), or fixed at static_t.

    The fixed T = 1 step graph has no shape arithmetic left for the tokens (every mask and reshape
    folds to a constant), so a decoding step runs far fewer nodes; WebGPU graph capture needs it too.
    """
    cfg = model.cfg
    model.export_t = static_t
    for b in model.blocks:
        b.mixer.train_chunk = None  # the graph is one chunk of any T <= max_chunk: no loop inside
        if hasattr(b.mixer, "export_t"):
            b.mixer.export_t = static_t
    names = state_names(model)
    grow = cfg.sparse_summary * 2 if cfg.variant == "sparse" else 3  # sparse's summary length must be a multiple of c
    state = example_state(model, grow)
    if cfg.variant == "sparse":  # unfinished block shorter than b
        state = [s[:, :3] if n["name"].endswith(("blk_k", "blk_v")) else s for s, n in zip(state, names[1:])]
    ids = torch.randint(0, cfg.vocab_size, (1, static_t or 5))
    memory = torch.randn(1, cfg.memory_slots, cfg.d_model)
    pos = torch.tensor([grow * (cfg.sparse_block // cfg.sparse_summary) + 3 if cfg.variant == "sparse" else grow], dtype=torch.long)
    inputs = ["input_ids", "memory"] + [n["input"] for n in names]
    outputs = ["logits"] + [n["output"] for n in names]
    axes = {} if static_t else {"input_ids": {1: "T"}}
    for n in names:
        if n["grows_axis"] is not None:
            axes[n["input"]] = {n["grows_axis"]: n["name"] + "_len"}
            axes[n["output"]] = {n["grows_axis"]: n["name"] + "_len_out"}
    with torch.no_grad():
        if not last_only:
            axes["logits"] = {1: "T"}
        _onnx_export(DecoderGraph(model, last_only), (ids, memory, pos, *state), path, inputs, outputs, axes)
    model.export_t = None
    for b in model.blocks:
        if hasattr(b.mixer, "export_t"):
            b.mixer.export_t = None
    ops = check_graph(path)
    return {"inputs": inputs, "outputs": outputs, "ops": ops}


def export_encoder(model: LineaModel, path: Path) -> dict:
    ids = torch.randint(0, model.cfg.vocab_size, (1, 37))
    with torch.no_grad():
        _onnx_export(EncoderGraph(model), (ids,), path, ["context_ids"], ["memory"], {"context_ids": {1: "N"}})
    return {"inputs": ["context_ids"], "outputs": ["memory"], "ops": check_graph(path)}


def graph_entry(path: Path, io: dict, external: list[str] | None = None) -> dict:
    return {"file": path.name, "inputs": io["inputs"], "outputs": io["outputs"], "external_data": external or []}


def _nbytes(init) -> int:
    from onnx import numpy_helper

    return numpy_helper.to_array(init).nbytes


def _stored(init, fp16: bool):
    """An initializer as weights.bin stores it: its bytes and dtype, and the Cast back to float32 that
    float16 storage puts in front of its users (None when stored as it is)."""
    import numpy as np
    from onnx import helper, numpy_helper

    arr = numpy_helper.to_array(init)
    if fp16 and arr.dtype == np.float32:
        name = init.name
        cast = helper.make_node("Cast", [name + "__fp16"], [name], to=onnx.TensorProto.FLOAT, name=name + "__cast")
        return arr.astype(np.float16).tobytes(), onnx.TensorProto.FLOAT16, cast
    return arr.tobytes(), init.data_type, None


def _point_at(g, init, dtype: int, cast, weights: str, offset: int, length: int, casts: list) -> None:
    """Makes init an external tensor at weights[offset:offset + length] (behind its Cast, if any)."""
    if cast is not None:
        init.name = cast.input[0]
        init.data_type = dtype
        casts.append(cast)
    for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "external_data"):
        init.ClearField(field)
    for k, v in (("location", weights), ("offset", str(offset)), ("length", str(length))):
        entry = init.external_data.add()
        entry.key, entry.value = k, v
    init.data_location = onnx.TensorProto.EXTERNAL


def _save_with_casts(g, casts: list, path: Path) -> None:
    if casts:
        nodes = casts + list(g.graph.node)
        del g.graph.node[:]
        g.graph.node.extend(nodes)
    onnx.save(g, str(path))


def externalize(paths: list[Path], weights: Path, min_bytes: int = 1024, fp16: bool = False) -> None:
    """Moves the graphs' large initializers into one weights file, each distinct tensor stored once.

    The decoder, its all-positions twin and the encoder share the embedding and every decoder weight, so
    the weights ship once; onnxruntime-web takes the file through the externalData session option.
    With fp16, float32 weights are stored as float16 behind a Cast that onnxruntime folds when the
    session loads: half the bytes on disk, the same float32 arithmetic at run time.
    """
    index: dict[tuple, tuple[int, int]] = {}
    with open(weights, "wb") as w:
        for path in paths:
            g = onnx.load(str(path))
            casts: list = []
            for init in g.graph.initializer:
                if _nbytes(init) < min_bytes:
                    continue
                raw, dtype, cast = _stored(init, fp16)
                key = (dtype, tuple(init.dims), hashlib.sha256(raw).hexdigest())
                if key not in index:
                    pad = (-w.tell()) % 64  # aligned offsets let runtimes map tensors in place
                    w.write(b"\0" * pad)
                    index[key] = (w.tell(), len(raw))
                    w.write(raw)
                _point_at(g, init, dtype, cast, weights.name, *index[key], casts)
            _save_with_casts(g, casts, path)


def share_weights(path: Path, others: list[Path], weights: Path, fp16: bool, min_bytes: int = 1024) -> int:
    """Points a new graph's large initializers at the copies `others` already keep in weights, which is
    left byte-for-byte as it was (a shipped model gains a graph, its weights do not change). A tensor
    found nowhere there (a constant of this graph alone) stays inside the graph: returns those bytes."""
    blob = weights.read_bytes()
    index: dict[tuple, tuple[int, int]] = {}
    for other in others:
        for init in onnx.load(str(other), load_external_data=False).graph.initializer:
            if init.data_location == onnx.TensorProto.EXTERNAL:
                ext = {e.key: e.value for e in init.external_data}
                offset, length = int(ext.get("offset", 0)), int(ext["length"])
                digest = hashlib.sha256(blob[offset : offset + length]).hexdigest()
                index[(init.data_type, tuple(init.dims), digest)] = (offset, length)
    g = onnx.load(str(path))
    casts: list = []
    inline = 0
    for init in g.graph.initializer:
        size = _nbytes(init)
        if size < min_bytes:
            continue
        raw, dtype, cast = _stored(init, fp16)
        at = index.get((dtype, tuple(init.dims), hashlib.sha256(raw).hexdigest()))
        if at is None:
            inline += size
            continue
        _point_at(g, init, dtype, cast, weights.name, *at, casts)
    _save_with_casts(g, casts, path)
    return inline


def state_bytes(names: list[dict]) -> dict:
    """Fixed bytes per document, plus bytes per token of context for the growing (KV-cache) variants."""
    fixed = per_token = 0
    for n in names:
        size = 8 if n["dtype"] == "int64" else 4
        numel = 1
        for i, d in enumerate(n["shape"]):
            numel *= 1 if i == n["grows_axis"] else d
        if n["grows_axis"] is None:
            fixed += numel * size
        else:
            per_token += numel * size
    return {"fixed": fixed, "per_token": per_token}


def export_model(model: LineaModel, out: Path, model_id: str, tokenizer: Path, special: dict, extra: dict | None = None,
                 fp16_weights: bool = False) -> dict:
    """Writes decoder.onnx, encoder.onnx (if any), tokenizer.json and manifest.json into out/."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    ios = {"decoder": export_decoder(model, out / "decoder.onnx"),
           "decoder_step": export_decoder(model, out / "decoder_step.onnx", static_t=1),
           "decoder_full": export_decoder(model, out / "decoder_full.onnx", last_only=False)}
    if cfg.has_encoder:
        ios["encoder"] = export_encoder(model, out / "encoder.onnx")
    externalize([out / f"{k}.onnx" for k in ios], out / "weights.bin", fp16=fp16_weights)
    if cfg.prefill_chunk:  # exported as for a shipped folder (reexport_decoders), so both ways give the same files
        others = [out / f"{k}.onnx" for k in ios]
        ios[PREFILL_GRAPH], _ = export_sharing(model, out / f"{PREFILL_GRAPH}.onnx", cfg.prefill_chunk, others, fp16_weights)
    graphs = {k: graph_entry(out / f"{k}.onnx", io, ["weights.bin"]) for k, io in ios.items()}
    if not tokenizer.is_file():
        raise ExportError(f"tokenizer not found: {tokenizer}")
    if tokenizer.resolve() != (out / "tokenizer.json").resolve():
        shutil.copyfile(tokenizer, out / "tokenizer.json")
    names = state_names(model)
    manifest = {
        "format": 1,
        "id": model_id,
        "variant": cfg.variant,
        "constant_state": cfg.variant in CONSTANT_STATE,
        "parameters": model.n_params(),
        "config": dataclasses.asdict(cfg),
        "tokenizer": {"file": "tokenizer.json", "sha256": sha256(out / "tokenizer.json"), **special},
        "graphs": graphs,
        "decoder": "decoder",  # the chunk graph (any T <= max_chunk): prefill, catch-up
        "step": "decoder_step",  # the fixed T = 1 graph for decoding (decoder_step_int8 where that is kept)
        "files": {},
        "state": names,
        "state_bytes": state_bytes(names),
        "memory": {"input": "memory", "shape": [1, cfg.memory_slots, cfg.d_model], "null": "encode [hole]"} if cfg.has_encoder else None,
        "limits": {"max_chunk": cfg.graph_chunk, "max_encoder_tokens": cfg.max_encoder_tokens}
        | ({"prefill_chunk": cfg.prefill_chunk} if cfg.prefill_chunk else {}),
        "weights": "float16 storage, float32 arithmetic" if fp16_weights else "float32",
        "metrics": {},
    }
    if cfg.prefill_chunk:
        manifest["prefill"] = PREFILL_GRAPH  # exactly limits.prefill_chunk tokens: long reads
    if extra:
        manifest.update(extra)
    write_manifest(out, manifest)
    return manifest


def export_sharing(model: LineaModel, path: Path, static_t: int | None, others: list[Path], fp16: bool) -> tuple[dict, int]:
    """A decoder graph whose weights are those `others` keep in the folder's weights.bin; returns its io
    and the bytes kept inside it."""
    io = export_decoder(model, path, static_t=static_t)
    return io, share_weights(path, others, path.parent / "weights.bin", fp16)


def reexport_decoders(folder: Path) -> dict:
    """Exports an exported folder's chunk graph (decoder.onnx) and, where the variant has one, its prefill
    graph again, from the folder's own weights (shipped.load_shipped): after a change to how those graphs
    are built, or to give a folder from before prefill graphs one. weights.bin and every other file stay
    byte-for-byte as they were; returns each graph's bytes and the weight bytes kept inside it (0)."""
    from shipped import load_shipped

    model, manifest = load_shipped(folder)
    cfg = model.cfg
    weights = folder / "weights.bin"
    before = sha256(weights)
    fp16 = str(manifest.get("weights", "")).startswith("float16")
    info = {}
    for name, static_t in [("decoder", None)] + ([(PREFILL_GRAPH, cfg.prefill_chunk)] if cfg.prefill_chunk else []):
        others = [folder / g["file"] for k, g in manifest["graphs"].items() if k != name and "weights.bin" in g["external_data"]]
        path = folder / f"{name}.onnx"
        io, inline = export_sharing(model, path, static_t, others, fp16)
        info[name] = {"bytes": path.stat().st_size, "inline_bytes": inline}
        manifest["graphs"][name] = graph_entry(path, io, ["weights.bin"])
    if sha256(weights) != before:
        raise ExportError(f"{weights}: changed while exporting the decoder graphs")
    if cfg.prefill_chunk:
        manifest["prefill"] = PREFILL_GRAPH
        manifest["limits"]["prefill_chunk"] = cfg.prefill_chunk
    write_manifest(folder, manifest)
    return info


def write_manifest(out: Path, manifest: dict) -> None:
    """Writes manifest.json with the sha256 and size of every file it names."""
    names = {manifest["tokenizer"]["file"]}
    for g in manifest["graphs"].values():
        names.add(g["file"])
        names.update(g.get("external_data", []))
    manifest["files"] = {n: {"sha256": sha256(out / n), "bytes": (out / n).stat().st_size} for n in sorted(names)}
    manifest["tokenizer"]["sha256"] = manifest["files"][manifest["tokenizer"]["file"]]["sha256"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--tokenizer", help="tokenizer.json the model was trained with")
    ap.add_argument("--out", help="model folder to write, e.g. models/linea-linear")
    ap.add_argument("--reexport-decoders", metavar="FOLDER",
                    help="export an exported folder's chunk and prefill graphs again (weights read from it)")
    ap.add_argument("--id", help="model id (default: the folder name)")
    ap.add_argument("--fp32-weights", action="store_true", help="store weights as float32 (default: float16 storage)")
    args = ap.parse_args(argv)
    if args.reexport_decoders:
        try:
            info = reexport_decoders(Path(args.reexport_decoders))
        except (ExportError, FileNotFoundError, ValueError) as e:
            print(f"export: {e}", file=sys.stderr)
            return 2
        print(f"exported {', '.join(f'{k}.onnx' for k in info)} again in {args.reexport_decoders}: {info}")
        return 0
    if not (args.checkpoint and args.tokenizer and args.out):
        ap.error("--checkpoint, --tokenizer and --out are required (unless --reexport-decoders)")
    try:
        model, ckpt = load_checkpoint(args.checkpoint)
        special = ckpt.get("special")
        if not special:
            raise ExportError(f"{args.checkpoint}: has no special token ids (eos, hole, pad)")
        out = Path(args.out)
        info = ckpt.get("train_info", {})
        extra = {"training": info} | ({"languageHeader": info["language_header"]} if info.get("language_header") else {})
        manifest = export_model(model, out, args.id or out.name, Path(args.tokenizer), special, extra,
                                fp16_weights=not args.fp32_weights)
    except (ExportError, FileNotFoundError, ValueError) as e:
        print(f"export: {e}", file=sys.stderr)
        return 2
    print(f"exported {manifest['id']} ({manifest['variant']}, {manifest['parameters']:,} parameters) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
