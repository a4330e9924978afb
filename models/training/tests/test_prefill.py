"""Gated delta's long prefill: the blocked form against token-by-token decoding, and its exported graph."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attention_linear import delta_blocks, delta_chunk, delta_token
from config import DELTA_PREFILL_CHUNK, VARIANTS
from export import PREFILL_GRAPH, export_model, reexport_decoders, sha256
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
    # the prefill graph's last layer: the state and the last output only
    for fn in (delta_blocks, delta_chunk):
        out, state = fn(q[:, :, :16], k[:, :, :16], v[:, :, :16], beta[:, :, :16], gate[:, :, :16], s0, 16, True)
        assert out.shape == (1, 4, 1, 32) and (out - want[:, :, 15:16]).abs().max().item() <= TOL
    out, state = delta_blocks(q, k, v, beta, gate, s0, 16, True)
    assert out.shape == (1, 4, 1, 32) and (out - want[:, :, -1:]).abs().max().item() <= TOL
    assert (state - s).abs().max().item() <= TOL * max(1.0, s.abs().max().item())


@pytest.mark.parametrize("variant", VARIANTS)
@torch.no_grad()
def test_last_only_skips_outputs_not_state(variant):
    """last_only (the decoder graphs) computes the last block's output at the last position only: the same
    logits there and the same state as the whole forward pass."""
    model = tiny_model(variant).eval()
    for t in (1, 5, 40):
        ids = torch.randint(0, 64, (1, t), generator=torch.Generator().manual_seed(t))
        memory = model.null_memory(model.hole_id) if model.cfg.has_encoder else None
        full, full_state, _ = model(ids, memory=memory)
        last, last_state, _ = model(ids, memory=memory, last_only=True)
        assert last.shape == (1, model.cfg.vocab_size)
        assert (last - full[:, -1]).abs().max().item() <= TOL
        for a, b in zip(last_state, full_state):
            assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=TOL)


@torch.no_grad()
def test_prefill_graph_matches_pytorch(tmp_path):
    model = tiny_model("deltanet")
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    manifest = export_model(model, tmp_path / "m", "tiny", tok, SPECIAL)
    n = manifest["limits"]["prefill_chunk"]
    assert manifest["prefill"] == PREFILL_GRAPH and n == DELTA_PREFILL_CHUNK and manifest["limits"]["max_chunk"] == 16
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


def test_reexported_decoders_leave_the_other_files_alone(tmp_path):
    """A folder exported before prefill graphs existed gains one, and its chunk graph is exported again:
    weights.bin and the other graphs byte-for-byte the same, both graphs the same as a fresh export's."""
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    folder = tmp_path / "m"
    export_model(tiny_model("deltanet"), folder, "tiny", tok, SPECIAL, fp16_weights=True)
    fresh = {g: sha256(folder / f"{g}.onnx") for g in ("decoder", PREFILL_GRAPH)}
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["graphs"][PREFILL_GRAPH], manifest["prefill"], manifest["limits"]["prefill_chunk"]
    del manifest["files"][f"{PREFILL_GRAPH}.onnx"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / f"{PREFILL_GRAPH}.onnx").unlink()
    before = {p.name: sha256(p) for p in folder.iterdir() if p.name not in ("manifest.json", "decoder.onnx")}
    info = reexport_decoders(folder)
    assert set(info) == {"decoder", PREFILL_GRAPH}
    assert all(g["inline_bytes"] == 0 for g in info.values()), "every weight of the graphs is in weights.bin"
    assert {p.name: sha256(p) for p in folder.iterdir() if p.name in before} == before
    assert {g: sha256(folder / f"{g}.onnx") for g in fresh} == fresh
    assert json.loads((folder / "manifest.json").read_text())["limits"]["prefill_chunk"] == DELTA_PREFILL_CHUNK


def test_only_a_capped_chunk_graph_gets_a_prefill_graph():
    assert tiny_config("deltanet").prefill_chunk == DELTA_PREFILL_CHUNK == 128
    assert tiny_config("deltanet", max_chunk=64).prefill_chunk == 64
    assert tiny_config("deltanet", max_chunk=16).prefill_chunk is None
    assert all(tiny_config(v).prefill_chunk is None for v in ("linear", "decay", "softmax", "luna", "sparse", "hybrid"))
