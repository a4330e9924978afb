"""PyTorch vs onnxruntime on the exported graphs, the op rules, and clear errors for bad input."""
import json

import numpy as np
import pytest
import torch

from tiny import tiny_model
from export import ExportError, export_model, load_checkpoint, main as export_main
from fixtures import split_schedule
from onnx_runner import OnnxModel

SPECIAL = {"eos": 64, "hole": 65, "pad": 66}
SCHEDULE = [1, 1, 3, 64, 1, 1, 17, 100, 1, 2, 1, 40, 1]  # 233 tokens in chunks of mixed sizes


def export_tiny(variant, tmp_path):
    model = tiny_model(variant)
    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    export_model(model, tmp_path / variant, f"tiny-{variant}", tok, SPECIAL)
    return model, OnnxModel(tmp_path / variant)


@torch.no_grad()
def test_onnx_matches_pytorch(variant, tmp_path):
    model, onx = export_tiny(variant, tmp_path)
    torch.manual_seed(2)
    ids = torch.randint(0, 64, (1, sum(SCHEDULE)))
    ctx = torch.randint(0, 66, (1, 90))
    memory = model.encode(ctx)
    mem_onnx = onx.encode(ctx[0].tolist())
    assert np.abs(mem_onnx - memory.numpy()).max() <= 1e-4
    ref, ref_state, _ = model(ids, memory=memory)
    state, at = onx.init_state(), 0
    for size in split_schedule(SCHEDULE, model.cfg.graph_chunk):
        logits, state = onx.step(ids[0, at : at + size].tolist(), state, mem_onnx)
        at += size
        diff = np.abs(logits - ref[0, at - 1].numpy()).max()
        assert diff <= 1e-4, f"{variant}: logits after {at} tokens differ by {diff:.2e}"
    assert int(state[0][0]) == at  # the position counter
    for got, want in zip(state[1:], ref_state):
        assert got.shape == tuple(want.shape[1:])
        assert want.numel() == 0 or np.abs(got - want[0].numpy()).max() <= 1e-4 * max(1.0, want.abs().max().item())


def test_manifest_describes_the_graph(tmp_path):
    _, onx = export_tiny("linear", tmp_path)
    m = onx.manifest
    names = [i.name for i in onx.decoder.get_inputs()]
    assert names == ["input_ids", "memory"] + [s["input"] for s in m["state"]]
    assert [o.name for o in onx.decoder.get_outputs()] == ["logits"] + [s["output"] for s in m["state"]]
    assert m["state_bytes"]["per_token"] == 0 and m["state_bytes"]["fixed"] > 0
    assert m["tokenizer"]["hole"] == 65
    assert set(m["files"]) == {"decoder.onnx", "decoder_step.onnx", "decoder_full.onnx", "encoder.onnx", "weights.bin", "tokenizer.json"}
    weights = m["files"]["weights.bin"]["bytes"]
    assert weights < 1.2 * 4 * onx_params(tmp_path / "linear"), "weights stored more than once"


def onx_params(folder):
    return json.loads((folder / "manifest.json").read_text())["parameters"]


def test_full_graph_gives_every_position(tmp_path):
    model, onx = export_tiny("decay", tmp_path)
    ids = torch.randint(0, 64, (1, 50))
    memory = onx.null_memory()
    ref, _, _ = model(ids, memory=torch.from_numpy(memory))
    logits, _ = onx.full(ids[0].tolist(), onx.init_state(), memory)
    assert logits.shape == (1, 50, 67)
    assert np.abs(logits[0] - ref[0].detach().numpy()).max() <= 1e-4


def test_wrong_state_shape_is_named(tmp_path):
    _, onx = export_tiny("linear", tmp_path)
    state = onx.init_state()
    state[1] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"state l0\.S: got float32\[3, 3\], expected float32\[4, 8, 8\]"):
        onx.step([1], state, onx.null_memory())


def test_corrupt_graph_is_named(tmp_path):
    _, onx = export_tiny("linear", tmp_path)
    path = tmp_path / "linear" / "decoder.onnx"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ExportError, match="decoder.onnx: sha256 does not match"):
        OnnxModel(tmp_path / "linear")


def test_bad_checkpoints_are_named(tmp_path, capsys):
    with pytest.raises(ExportError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"config": {"variant": "nope"}, "model": {}}, tmp_path / "bad.pt")
    with pytest.raises(ExportError, match="variant 'nope' is not one of"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"config": {"n_layers": 3}, "model": {}}, tmp_path / "typo.pt")
    assert export_main(["--checkpoint", str(tmp_path / "typo.pt"), "--tokenizer", "x", "--out", str(tmp_path / "o")]) == 2
    assert "unknown key(s) n_layers" in capsys.readouterr().err


def run_graph(model_or_path, seed=0):
    """Runs a graph once on seeded inputs of its declared shapes (dynamic axes as 1)."""
    import onnxruntime as ort

    src = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else str(model_or_path)
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feed = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if "int64" in i.type:
            feed[i.name] = np.zeros(shape, np.int64) if i.name != "input_ids" else np.full(shape, 7, np.int64)
        else:
            feed[i.name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return sess.run(None, feed)


def test_int8_quantizes_float16_storage(tmp_path):
    """float16 weights reach MatMul through Cast nodes; folding them must be exact and must give the
    quantizer real weights (a graph with no MatMulInteger was once reported as 100% agreement)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from quantize import fold_weight_casts

    tok = tmp_path / "tok.json"
    tok.write_text("{}")
    export_model(tiny_model("linear"), tmp_path / "m", "tiny", tok, SPECIAL, fp16_weights=True)
    step = tmp_path / "m" / "decoder_step.onnx"
    model = onnx.load(str(step), load_external_data=True)
    assert fold_weight_casts(model) > 0
    for got, want in zip(run_graph(model), run_graph(step)):
        assert np.abs(got - want).max() <= 1e-6
    quantize_dynamic(model, str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert "MatMulInteger" in ops
    logits, ref = run_graph(tmp_path / "int8.onnx")[0], run_graph(step)[0]
    assert np.abs(logits - ref).max() <= 0.1 * np.abs(ref).max()
