"""Reads a shipped model folder (manifest.json + ONNX graphs + weights.bin) back into a LineaModel.

    model, manifest = load_shipped("models/linea-deltanet")

Training resumes from the committed weights, not from a checkpoint that may be gone with a machine.
The graphs do not name their weights after the PyTorch parameters (the exporter folds transposes and
splits the convolution into taps under names such as onnx::MatMul_1723), so the mapping is recovered
rather than guessed: the same exporter is run on a twin whose every parameter element holds its own
index (exact in float32 below 2^24), and each element of each initializer of the twin says which
parameter element it is. The shipped graphs have the same structure, so their initializers read back
through that map. Any parameter element that no initializer holds is an error, never a silent zero.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from config import ModelConfig, from_dict
from model import LineaModel

MARK_BASE = 1 << 22  # marker values start here, so small constants (0, 1, eps) never read as a parameter


class ShippedError(Exception):
    pass


def _graph(path: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, str]]:
    """The float initializers (name -> float32 array, external data read), each node's inputs, and the
    input of each Cast or Identity node by its output: fp16 storage puts a Cast between a weight and its
    users, and the exporter turns equal tensors into one initializer behind Identity nodes."""
    g = onnx.load(str(path), load_external_data=True)
    inits = {}
    for init in g.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype in (np.float16, np.float32):
            inits[init.name] = arr.astype(np.float32)
    nodes = {n.name: list(n.input) for n in g.graph.node}
    aliases = {n.output[0]: n.input[0] for n in g.graph.node if n.op_type in ("Cast", "Identity")}
    return inits, nodes, aliases


def _users(nodes: dict[str, list[str]]) -> dict[str, tuple[str, int]]:
    """tensor name -> one (node name, input index) that reads it."""
    out: dict[str, tuple[str, int]] = {}
    for node, inputs in nodes.items():
        for i, name in enumerate(inputs):
            out.setdefault(name, (node, i))
    return out


def _graphs(cfg: ModelConfig) -> list[str]:
    return ["decoder"] + (["encoder"] if cfg.has_encoder else [])


def load_shipped(folder: str | Path) -> tuple[LineaModel, dict]:
    """The model of a shipped folder with its float16-stored weights in float32, and its manifest."""
    from export import export_decoder, export_encoder  # export imports onnx tooling: only when asked

    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        cfg = from_dict(ModelConfig, manifest["config"], f"{folder}/manifest.json config")
    except (OSError, KeyError, ValueError) as e:
        raise ShippedError(f"{folder}: not a readable model folder ({e})") from None
    model = LineaModel(cfg).eval()
    params = list(model.state_dict().items())
    sizes = [p.numel() for _, p in params]
    total = sum(sizes)
    if MARK_BASE + total >= 1 << 24:
        raise ShippedError(f"{total:,} parameters: too many for float32 markers")
    twin = LineaModel(cfg).eval()
    marks = torch.arange(MARK_BASE, MARK_BASE + total, dtype=torch.float64).float()
    twin.load_state_dict({name: chunk.view_as(p) for (name, p), chunk in zip(params, marks.split(sizes))})

    flat = np.full(total, np.nan, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        exported = {"decoder": lambda p: export_decoder(twin, p), "encoder": lambda p: export_encoder(twin, p)}
        for graph in _graphs(cfg):
            probe = Path(tmp) / f"{graph}.onnx"
            exported[graph](probe)
            # Initializer names differ between exports (the exporter merges equal tensors, fp16
            # storage renames them), node names do not: a weight is found through the node that reads it.
            marks, twin_nodes, _ = _graph(probe)
            inits, nodes, aliases = _graph(folder / manifest["graphs"][graph]["file"])
            users = _users(twin_nodes)
            for name, mark in marks.items():
                idx = mark.astype(np.float64) - MARK_BASE
                if not np.all((idx >= 0) & (idx < total) & (idx == np.round(idx))):
                    continue  # a constant of the graph, not a parameter
                node, i = users.get(name, ("", 0))
                held = nodes.get(node, [])[i] if i < len(nodes.get(node, [])) else None
                while held in aliases and held not in inits:
                    held = aliases[held]
                if held not in inits or inits[held].shape != mark.shape:
                    raise ShippedError(f"{folder}: {graph} has no weight of shape {mark.shape} at {node or name}")
                flat[idx.astype(np.int64).ravel()] = inits[held].ravel()
    missing = np.isnan(flat)
    if missing.any():
        first = int(np.argmax(missing))
        owner = next(n for (n, _), end in zip(params, np.cumsum(sizes)) if first < end)
        raise ShippedError(f"{folder}: {int(missing.sum()):,} parameter values not found in the graphs (first in {owner})")
    values = torch.from_numpy(flat).split(sizes)
    model.load_state_dict({name: v.view_as(p).clone() for (name, p), v in zip(params, values)})
    return model, manifest
