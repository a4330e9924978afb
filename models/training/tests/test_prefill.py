"""Gated delta's long prefill: the blocked form against token-by-token decoding, and its exported graph."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attention_linear import delta_blocks, delta_token
from export import PREFILL_GRAPH, add_prefill, export_model, sha256
from onnx_runner import OnnxModel
from tiny import tiny_config, tiny_model

SPECIAL = {"eos": 64, "hole": 65, "pad": 66}
TOL = 1e-4


def random_inputs(t: int, seed: int, decay: float):
    g = torch.Generator().manual_seed(seed)
    b, h, dk = 1, 4, 32
    q = F.normalize(torch.randn(b, h, t, dk, generator=g), dim=-1) / math.sqrt(dk)
    # keys drawn near one direction: the case whose long Neumann product overflows
    k = F.normalize(torch.randn(b, h, t, dk, generator=g) * 0.3 + 1.0, dim=-1)
    v = torch.randn(b, h, t, dk, generator=g)
    beta = torch.rand(b, h, t, generator=g)
    gate = -decay * torch.rand(b, h, t, generator=g)  # log decay <= 0
    s = torch.randn(b, h, dk, dk, generator=g) * 0.5
    return q, k, v, beta, gate, s


@pytest.mark.parametrize("decay", [0.0, 0.05, 2.0])
@torch.no_grad()
def test_blocked_form_equals_token_steps(decay):
    q, k, v, beta, gate, s0 = random_inputs(256, seed=int(decay * 100), decay=decay)
    s, outs = s0, []
    for i in range(q.shape[2]):
        o, s = delta_token(*(x[:, :, i : i + 1] for x in (q, k, v, beta, gate)), s)
        outs.append(o)
    want = torch.cat(outs, dim=2)
    assert want.abs().max() > 0.1, "outputs too small for the comparison to mean anything"
    blocked = lambda *a: delta_blocks(*a, 16)  # noqa: E731
    # eager: each sub-block's inverse is a triangular solve; traced (as exported): the Neumann product
    for fn in (blocked, torch.jit.trace(blocked, (q, k, v, beta, gate, s0))):
        out, state = fn(q, k, v, beta, gate, s0)
        assert (out - want).abs().max().item() <= TOL
        assert (state - s).abs().max().item() <= TOL * max(1.0, s.abs().max().item())


@torch.no_grad()
def test_prefill_graph_matches_pytorch(tmp_path):
    model = tiny_model("deltanet")
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    manifest = export_model(model, tmp_path / "m", "tiny", tok, SPECIAL)
    n = manifest["limits"]["prefill_chunk"]
    assert manifest["prefill"] == PREFILL_GRAPH and n == 128 and manifest["limits"]["max_chunk"] == 16
    onx = OnnxModel(tmp_path / "m")
    ids = torch.randint(0, 64, (1, 3 + 2 * n), generator=torch.Generator().manual_seed(5))
    memory = onx.null_memory()
    ref, ref_state, _ = model(ids, memory=torch.from_numpy(memory))
    # a chunk first, so the prefill graph starts from a state that is not zero (conv history included)
    _, state = onx.step(ids[0, :3].tolist(), onx.init_state(), memory)
    for at in (3, 3 + n):
        logits, state = onx.prefill(ids[0, at : at + n].tolist(), state, memory)
        diff = np.abs(logits - ref[0, at + n - 1].numpy()).max()
        assert diff <= TOL, f"logits after {at + n} tokens differ by {diff:.2e}"
    assert int(state[0][0]) == 3 + 2 * n
    for got, want in zip(state[1:], ref_state):
        assert np.abs(got - want[0].numpy()).max() <= TOL * max(1.0, want.abs().max().item())


def test_prefill_added_to_a_folder_leaves_its_files_alone(tmp_path):
    """A folder exported before prefill graphs existed gains one: weights.bin byte-for-byte the same, and
    the graph the same as a fresh export's."""
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    folder = tmp_path / "m"
    export_model(tiny_model("deltanet"), folder, "tiny", tok, SPECIAL, fp16_weights=True)
    fresh = sha256(folder / f"{PREFILL_GRAPH}.onnx")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["graphs"][PREFILL_GRAPH], manifest["prefill"], manifest["limits"]["prefill_chunk"]
    del manifest["files"][f"{PREFILL_GRAPH}.onnx"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / f"{PREFILL_GRAPH}.onnx").unlink()
    before = {p.name: sha256(p) for p in folder.iterdir() if p.name != "manifest.json"}
    info = add_prefill(folder)
    assert info["inline_bytes"] == 0, "every weight of the prefill graph is in weights.bin"
    assert {p.name: sha256(p) for p in folder.iterdir() if p.name in before} == before
    assert sha256(folder / f"{PREFILL_GRAPH}.onnx") == fresh
    assert json.loads((folder / "manifest.json").read_text())["limits"]["prefill_chunk"] == 128


def test_only_a_capped_chunk_graph_gets_a_prefill_graph():
    assert tiny_config("deltanet").prefill_chunk == 128
    assert tiny_config("deltanet", max_chunk=64).prefill_chunk == 64
    assert tiny_config("deltanet", max_chunk=16).prefill_chunk is None
    assert all(tiny_config(v).prefill_chunk is None for v in ("linear", "decay", "softmax", "luna", "sparse", "hybrid"))
